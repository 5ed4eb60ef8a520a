// Per GPU that gpu-hookd moved: the host state recorded before the first write, and who owns the GPU
// now (a VM name, or "" for a manual detach). Written atomically; the daemon reads it at start.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isPciAddress, parsePciAddress } from '../host/pci-address';
import { removeFileDurable, writeFileAtomicKeepOpen } from './atomic-file';
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
  /** Each record this store wrote or read, with the identity of the file it was in. */
  private readonly known = new Map<string, { identity: string; record: GpuRecord }>();

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'gpus');
  }

  fileOf(gpu: string): string {
    return path.join(this.dir, `${parsePciAddress(gpu)}.json`);
  }

  /**
   * The record, or undefined when there is none; throws (naming the file) when it is unreadable.
   * The record is frozen: it may be the one this store keeps for the next load.
   */
  load(gpu: string): GpuRecord | undefined {
    const file = this.fileOf(gpu);
    // One stat: most loads find no record (and no ENOENT error is built, ~1 ms under TCG), and a
    // record this store wrote or read is the same file while its identity is the same, so it is
    // neither read nor parsed again (every attach loads the record its detach wrote).
    const stat = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
    if (!stat) return undefined;
    const identity = identityOf(stat);
    const known = this.known.get(file);
    if (known?.identity === identity) return known.record;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const record = frozen(parseRecord(file, text));
    this.known.set(file, { identity, record });
    return record;
  }

  async save(record: GpuRecord): Promise<void> {
    const file = this.fileOf(record.gpu);
    // A copy: the caller's object may change after the save, the one kept must not.
    const text = `${JSON.stringify(record, null, 1)}\n`;
    this.known.delete(file);
    const fd = await writeFileAtomicKeepOpen(file, text);
    try {
      // The identity of the file written, from its own descriptor: a file that replaced it since is another.
      this.known.set(file, { identity: identityOf(fs.fstatSync(fd, { bigint: true })), record: frozen(JSON.parse(text) as GpuRecord) });
    } finally {
      fs.closeSync(fd);
    }
  }

  remove(gpu: string): Promise<void> {
    const file = this.fileOf(gpu);
    this.known.delete(file);
    return removeFileDurable(file);
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

/** `record` and everything in it made read-only: callers share the record this store keeps. */
function frozen(record: GpuRecord): GpuRecord {
  for (const f of record.functions) Object.freeze(f);
  Object.freeze(record.functions);
  for (const step of record.handover ?? []) Object.freeze(step);
  if (record.handover) Object.freeze(record.handover);
  return Object.freeze(record);
}

/** Which file this is and which version of it: another file (a rename over it, as every writer of
 *  records does) has another inode; an edit in place changes the size or the times (these move by
 *  the kernel's clock tick, so only a same-size edit within one tick of the last read goes unseen). */
function identityOf(stat: fs.BigIntStats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
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
