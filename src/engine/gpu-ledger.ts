// The ledger: one entry per GPU, the one place that says who holds it (a VM, or "" by hand), whether
// it was detached by hand (it then stays on vfio-pci when a VM using it stops), the host state to
// restore, and whether a transition is under way or left the host half-way. The engine, its recovery
// and the daemon's service share one ledger, which alone writes the GPU's file.
//
// What is persisted is what the host bears out: a record exists only while gpu-hookd has moved the
// GPU (from the transition that writes its host state until the attach that gave it back), and the
// claim lives in it. A claim on a GPU still on its host drivers (a Prepare before its detach) is kept
// in memory, so a crash cannot leave a claim behind that a later VM's release would obey; at start,
// reconcile() drops a record whose GPU is on its host drivers (a crash between an attach's last step
// and the record's removal). The mode and a transition's error are rebuilt at start from the journal
// (recovery) and the kernel, never stored: a stored mode is one the host can contradict.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isPciAddress, parsePciAddress } from '../host/pci-address';
import { removeFileDurable, writeFileAtomicKeepOpen } from './atomic-file';
import type { FunctionHostState } from './host-state';
import type { StepSpec } from './step-spec';

/** Who holds a GPU: a VM's name, or "" for a detach by hand; `manual`: detached by hand, it stays on
 *  vfio-pci when a VM that took it stops. */
export interface Claim {
  vm: string;
  manual: boolean;
}

/** A transition under way on the GPU. */
export type Motion = 'detaching' | 'attaching';

export interface GpuRecord {
  version: 1;
  gpu: string;
  owner: string;
  /** Detached by hand (absent in records of earlier versions: false). */
  manual: boolean;
  /** Host state per function of the group, as it was before detach. */
  functions: FunctionHostState[];
  detachedAt: string;
  /** The kernel's boot_id at detach: a record from an earlier boot describes a host that is gone. */
  bootId: string | null;
  /** The single-GPU handover's steps around the group detach (stop the display manager, ...), which
   *  the attach undoes in reverse; absent when there was none. */
  handover?: StepSpec[];
  /** The GPU's device nodes before the detach ("/dev/dri/card1", "/dev/fb1"): the attach says so
   *  when it comes back under other numbers (display-numbering.ts). Absent in older records. */
  displayNodes?: string[];
}

export class GpuLedger {
  readonly dir: string;
  /** Each record this ledger wrote or read, with the identity of the file it was in. */
  private readonly known = new Map<string, { identity: string; record: GpuRecord }>();
  /** Claims taken before their GPU has a record (memory only, see above), or not yet written to it;
   *  null: the claim was ended and the record does not say so yet. */
  private readonly pending = new Map<string, Claim | null>();
  /** Per GPU: the sentence of a transition that left the host half-way (its journal kept). */
  private readonly halfWay = new Map<string, string>();
  /** Per GPU: the transition under way, and the sentence of the last that failed ("" once one succeeds). */
  private readonly motions = new Map<string, Motion>();
  private readonly lastErrors = new Map<string, string>();
  /** Writes of one GPU's file, one after another, so the file ends with the last. */
  private readonly writes = new Map<string, Promise<unknown>>();

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'gpus');
  }

  /** Who holds the GPU: a claim not yet on disk, else the record's; undefined when nobody does. */
  claimOf(gpu: string): Claim | undefined {
    if (this.pending.has(gpu)) return this.pending.get(gpu) ?? undefined;
    const record = this.loadOrUndefined(gpu);
    return record && (record.owner !== '' || record.manual) ? { vm: record.owner, manual: record.manual } : undefined;
  }

  /** The GPUs a VM holds, sorted. */
  heldBy(vm: string): string[] {
    const held = new Set<string>();
    for (const [gpu, claim] of this.pending) if (claim?.vm === vm) held.add(gpu);
    for (const record of this.listReadable()) if (!this.pending.has(record.gpu) && record.owner === vm) held.add(record.gpu);
    return [...held].sort();
  }

  /**
   * Takes the GPU for `claim` at once in memory (claims are decided synchronously); resolves once a
   * record that exists says so on disk. Without a record the claim stays in memory until the
   * transition that moves the GPU writes one.
   */
  claim(gpu: string, claim: Claim): Promise<void> {
    return this.setClaim(gpu, claim);
  }

  /** Ends `vm`'s claim, or any claim when `vm` is undefined; a GPU detached by hand stays claimed by hand. */
  unclaim(gpu: string, vm?: string): Promise<void> {
    const held = this.claimOf(gpu);
    if (!held || (vm !== undefined && held.vm !== vm)) return Promise.resolve();
    return this.setClaim(gpu, held.manual && vm !== undefined ? { vm: '', manual: true } : null);
  }

  private setClaim(gpu: string, claim: Claim | null): Promise<void> {
    const record = this.loadOrUndefined(gpu);
    if (!record) {
      if (claim) this.pending.set(gpu, claim);
      else this.pending.delete(gpu);
      return Promise.resolve();
    }
    const after = claim ?? { vm: '', manual: false };
    if (!this.pending.has(gpu) && record.owner === after.vm && record.manual === after.manual) return Promise.resolve();
    // Memory says it at once; the pending entry goes once the file does.
    this.pending.set(gpu, claim);
    return this.save({ ...record, owner: after.vm, manual: after.manual });
  }

  /** The sentence of the transition that left the GPU's host half-way, or undefined. */
  failure(gpu: string): string | undefined {
    return this.halfWay.get(gpu);
  }

  /** The engine and its recovery say whether the GPU's last transition left the host half-way. */
  setFailure(gpu: string, sentence: string | undefined): void {
    if (sentence === undefined) {
      this.halfWay.delete(gpu);
      return;
    }
    this.halfWay.set(gpu, sentence);
    this.lastErrors.set(gpu, sentence);
  }

  motion(gpu: string): Motion | undefined {
    return this.motions.get(gpu);
  }

  /** The last failed transition's sentence; "" when none failed or one succeeded since. */
  lastError(gpu: string): string {
    return this.lastErrors.get(gpu) ?? '';
  }

  /** The engine's: a transition of the GPU starts (synchronously, when it is asked for). */
  begin(gpu: string, motion: Motion): void {
    this.motions.set(gpu, motion);
  }

  /** The engine's: the transition ended, with its error's sentence or "" when it succeeded. */
  end(gpu: string, error: string): void {
    this.motions.delete(gpu);
    if (error === '') this.lastErrors.delete(gpu);
    else this.lastErrors.set(gpu, error);
  }

  /**
   * At start, after recovery: drops each record the host does not bear out (no function of its GPU
   * is on vfio-pci, and no transition of it is half-way) and returns those GPUs. `onVfio` answers
   * from the kernel; undefined when the GPU is not on this host (kept: nothing contradicts it).
   */
  async reconcile(onVfio: (record: GpuRecord) => boolean | undefined): Promise<string[]> {
    const dropped: string[] = [];
    for (const record of this.listReadable()) {
      if (this.halfWay.has(record.gpu) || onVfio(record) !== false) continue;
      await this.remove(record.gpu);
      dropped.push(record.gpu);
    }
    return dropped;
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
    // One stat: most loads find no record (and no ENOENT error is built), and a
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

  /** Writes the GPU's record (the engine's, with the host state; the claim in it is the ledger's). */
  save(record: GpuRecord): Promise<void> {
    const claim = this.pending.get(record.gpu);
    return this.serialised(record.gpu, async () => {
      await this.write(record);
      // The file now bears the claim out, unless a newer claim came meanwhile.
      if (this.pending.get(record.gpu) === claim) this.pending.delete(record.gpu);
    });
  }

  private async write(record: GpuRecord): Promise<void> {
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

  /** Removes the GPU's record, and the claim in it, once its host state is restored. */
  remove(gpu: string): Promise<void> {
    const file = this.fileOf(gpu);
    this.pending.delete(gpu);
    return this.serialised(gpu, () => {
      this.known.delete(file);
      return removeFileDurable(file);
    });
  }

  private serialised(gpu: string, work: () => Promise<void>): Promise<void> {
    const run = (this.writes.get(gpu) ?? Promise.resolve()).then(work, work);
    const settled = run.catch(() => undefined);
    this.writes.set(gpu, settled);
    void settled.then(() => this.writes.get(gpu) === settled && this.writes.delete(gpu));
    return run;
  }

  private loadOrUndefined(gpu: string): GpuRecord | undefined {
    try {
      return this.load(gpu);
    } catch {
      // A damaged record is named by the transition that needs it (load throws there).
      return undefined;
    }
  }

  /** Every record that can be read; a damaged one is named when a transition loads it. */
  private listReadable(): GpuRecord[] {
    return this.list({ skipDamaged: true });
  }

  list(opts: { skipDamaged?: boolean } = {}): GpuRecord[] {
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
      .flatMap((n) => {
        const gpu = n.slice(0, -'.json'.length);
        try {
          const record = this.load(gpu);
          return record ? [record] : [];
        } catch (e) {
          if (opts.skipDamaged) return [];
          throw e;
        }
      });
  }
}

/** `record` and everything in it made read-only: callers share the record this store keeps. */
function frozen(record: GpuRecord): GpuRecord {
  for (const f of record.functions) {
    if (f.leftover) Object.freeze(f.leftover);
    Object.freeze(f);
  }
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
    (r.manual === undefined || typeof r.manual === 'boolean') &&
    (r.handover === undefined || (Array.isArray(r.handover) && r.handover.every((s) => s !== null && typeof s === 'object' && typeof s.kind === 'string'))) &&
    (r.displayNodes === undefined || (Array.isArray(r.displayNodes) && r.displayNodes.every((n) => typeof n === 'string')));
  if (!ok) throw new Error(`GPU record ${file} is not a gpu-hookd record of this version; delete it once the GPU's drivers are checked by hand`);
  return { ...r, manual: r.manual ?? false } as GpuRecord;
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
    nameOrNull(s.driverOverride) &&
    (s.leftover === undefined || (s.leftover !== null && typeof s.leftover === 'object' && nameOrNull(s.leftover.driver) && nameOrNull(s.leftover.driverOverride)))
  );
}
