// Per GPU that gpu-hookd moved: the host state recorded before the first write, and who owns the GPU
// now (a VM name, or "" for a manual detach). Written atomically; the daemon reads it at start.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isPciAddress, parsePciAddress } from '../host/pci-address';
import { removeFileDurable, writeFileAtomic } from './atomic-file';
import type { FunctionHostState } from './host-state';
import type { StepSpec } from './step-spec';

export interface GpuRecord {
  version: 1;
  gpu: string;
  owner: string;
  /** Host state per function of the group, as it was before detach. */
  functions: FunctionHostState[];
  detachedAt: string;
  /** The kernel's boot_id at detach: a record from an earlier boot describes a host that is gone. */
  bootId: string | null;
  /** The single-GPU handover's steps around the group detach (stop the display manager, ...), which
   *  the attach undoes in reverse; absent when there was none. */
  handover?: StepSpec[];
}

export class GpuRecordStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'gpus');
  }

  fileOf(gpu: string): string {
    return path.join(this.dir, `${parsePciAddress(gpu)}.json`);
  }

  /** The record, or undefined when there is none; throws (naming the file) when it is unreadable. */
  load(gpu: string): GpuRecord | undefined {
    const file = this.fileOf(gpu);
    // Most loads find no record: asking first spares building an ENOENT error (~1 ms under TCG).
    if (!fs.existsSync(file)) return undefined;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return parseRecord(file, text);
  }

  save(record: GpuRecord): Promise<void> {
    return writeFileAtomic(this.fileOf(record.gpu), `${JSON.stringify(record, null, 1)}\n`);
  }

  remove(gpu: string): Promise<void> {
    return removeFileDurable(this.fileOf(gpu));
  }

  list(): GpuRecord[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names
      .filter((n) => n.endsWith('.json') && isPciAddress(n.slice(0, -'.json'.length)))
      .sort()
      .map((n) => {
        const file = path.join(this.dir, n);
        return parseRecord(file, fs.readFileSync(file, 'utf8'));
      });
  }
}

function parseRecord(file: string, text: string): GpuRecord {
  let r: Partial<GpuRecord>;
  try {
    r = JSON.parse(text) as Partial<GpuRecord>;
  } catch {
    throw new Error(`GPU record ${file} is not valid JSON; delete it once the GPU's drivers are checked by hand`);
  }
  const ok =
    r !== null &&
    typeof r === 'object' &&
    r.version === 1 &&
    typeof r.gpu === 'string' &&
    isPciAddress(r.gpu) &&
    typeof r.owner === 'string' &&
    Array.isArray(r.functions) &&
    r.functions.every(isFunctionHostState) &&
    (r.handover === undefined || (Array.isArray(r.handover) && r.handover.every((s) => s !== null && typeof s === 'object' && typeof s.kind === 'string')));
  if (!ok) throw new Error(`GPU record ${file} is not a gpu-hookd record of this version; delete it once the GPU's drivers are checked by hand`);
  return r as GpuRecord;
}

function isFunctionHostState(f: unknown): f is FunctionHostState {
  const s = f as FunctionHostState;
  const nameOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
  return (
    s !== null &&
    typeof s === 'object' &&
    typeof s.address === 'string' &&
    isPciAddress(s.address) &&
    nameOrNull(s.driver) &&
    nameOrNull(s.driverModule) &&
    nameOrNull(s.driverOverride)
  );
}
