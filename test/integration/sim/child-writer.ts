// A separate process that works on a simulated host the way the daemon under test would: it opens
// the root with openHostIO and performs the writes given as JSON, printing one result per write.
// Usage: node child-writer.js <root> '[{"path": "...", "value": "..."}, {"load": "vfio_pci"}]'

import { SimHostIO } from '../../../src/sim/sim-host-io';
import { openHostIO } from '../../../src/sim/open-host';

type Op = { path: string; value: string; timeoutMs?: number } | { load: string } | { unload: string };

async function main(): Promise<void> {
  const [root, opsJson] = process.argv.slice(2);
  const io = openHostIO(root);
  const results: { ok: boolean; code?: string; name?: string; message?: string; simulated: boolean }[] = [];
  for (const op of JSON.parse(opsJson) as Op[]) {
    try {
      if ('path' in op) await io.write(op.path, op.value, { timeoutMs: op.timeoutMs });
      else if ('load' in op) await io.loadModule(op.load);
      else await io.unloadModule(op.unload);
      results.push({ ok: true, simulated: io instanceof SimHostIO });
    } catch (e) {
      const err = e as Error & { code?: string };
      results.push({ ok: false, code: err.code, name: err.name, message: err.message, simulated: io instanceof SimHostIO });
    }
  }
  process.stdout.write(JSON.stringify(results));
  // Writes left blocked by a fault must not keep this process alive: the kernel would, we need not.
  process.exit(0);
}

void main();
