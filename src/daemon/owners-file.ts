// Earlier versions kept claims in <state>/owners.json beside the GPU records. At the first start
// of this one, the claims of GPUs that have a record move into it, the rest (claims on GPUs that
// gpu-hookd never moved, as a crash could leave them) are dropped, and the file goes.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { GpuLedger } from '../engine/gpu-ledger';
import { removeFileDurable } from '../engine/atomic-file';
import { isPciAddress } from '../host/pci-address';

interface OldClaim {
  vm?: unknown;
  manual?: unknown;
}

export async function adoptOwnersFile(stateDir: string, ledger: GpuLedger, log: Pick<Logger, 'warn'>): Promise<void> {
  const file = path.join(stateDir, 'owners.json');
  let claims: Record<string, OldClaim>;
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    claims = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, OldClaim>) : {};
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    claims = {};
  }
  // The file said who held what: a record it does not name was held by nobody.
  for (const record of ledger.list({ skipDamaged: true })) {
    const old = claims[record.gpu];
    await ledger.claim(record.gpu, { vm: typeof old?.vm === 'string' ? old.vm : '', manual: old?.manual === true });
  }
  const unborne = Object.keys(claims).filter((gpu) => isPciAddress(gpu) && ledger.load(gpu) === undefined);
  if (unborne.length > 0) {
    log.warn({ event: 'reconcile', devices: unborne }, `dropped the claims on ${unborne.join(', ')} from ${file}: gpu-hookd had not moved them`);
  }
  await removeFileDurable(file);
}
