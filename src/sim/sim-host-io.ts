// HostIO for a simulated host: reads go to the tree as on a real host; writes and module
// operations go through the kernel emulator, which changes the tree as the kernel would or
// refuses with the kernel's errno. The emulator's state lives in the tree, so any number of
// SimHostIO objects, in any processes, share one simulated kernel.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_WRITE_TIMEOUT_MS,
  describeErrno,
  formatMs,
  HostTimeoutError,
  HostWriteError,
  ModuleError,
  SysfsHostIO,
  withTimeout,
  WriteOptions,
} from '../host/host-io';
import { KernelContext, KernelError, ProbeFaults, ScenarioIndex } from './kernel-context';
import { applyWrite, deviceAttributeOf } from './kernel-writes';
import { loadModule, unloadModule } from './module-model';
import { settleProbes } from './pci-binding';
import { groupHeld, lockedWrite, startHeldUnbind, unbindWaiting } from './held-group-model';
import { FaultEffect, MODPROBE_PATH, takeFaults } from './faults';
import { Scenario } from './scenario';
import { PendingProbe, readScenarioOf, readState, recoverSimHost, SimPaths, SimState, withLock, writeState } from './sim-state';

/** A fault rule's errno, before it is dressed as the caller's kind of error. */
class InjectedFailure extends Error {
  constructor(readonly code: string) {
    super(`injected ${code}`);
  }
}
import { Tree } from './tree';
import { consoleFramebuffers } from './vtconsole-rules';
import type { ConsoleMap } from '../host/fbcon-map';

/** How often a write waiting for a device's lock looks again. */
const DEVICE_LOCK_POLL_MS = 5;
/** How long a read of driver_override waits on a device lock before the simulator gives up (see waitForDeviceLock). */
const READ_LOCK_GIVE_UP_MS = 60_000;
/** The longest a Node timer can wait; "blocks forever" re-arms it so the process stays alive as a blocked write would keep it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SimHostIO extends SysfsHostIO {
  readonly scenario: Scenario;
  private readonly paths: SimPaths;
  private readonly tree: Tree;
  private readonly index: ScenarioIndex;
  private readonly timers = new Set<NodeJS.Timeout>();
  private disposed = false;

  /** Attaches to the simulated host already built in `root` (see createSimHost). */
  constructor(root: string) {
    const abs = path.resolve(root);
    if (abs === '/') throw new Error('refusing to treat "/" as a simulated host: the simulator only works in a directory of its own');
    super(abs);
    this.paths = new SimPaths(abs);
    if (!fs.existsSync(this.paths.state)) {
      throw new Error(`${abs} is not a simulated host (no ${this.paths.state}): build one with createSimHost or "node dist/src/sim/main.js create"`);
    }
    recoverSimHost(this.paths);
    this.scenario = readScenarioOf(this.paths);
    this.index = new ScenarioIndex(this.scenario);
    this.tree = new Tree(abs);
  }

  override readText(rel: string): string | undefined {
    this.settleIfDue();
    this.waitForDeviceLock(normalise(rel));
    return super.readText(rel);
  }

  override readLink(rel: string): string | undefined {
    this.settleIfDue();
    return super.readLink(rel);
  }

  override list(rel: string): string[] {
    this.settleIfDue();
    return super.list(rel);
  }

  override exists(rel: string): boolean {
    this.settleIfDue();
    return super.exists(rel);
  }

  override write(rel: string, value: string, options: WriteOptions = {}): Promise<void> {
    const target = this.abs(rel);
    const clean = normalise(rel);
    const timeoutMs = options.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
    const work = this.run(clean, value, (k) => applyWrite(k, clean, value)).catch((e: unknown) => {
      if (e instanceof InjectedFailure || e instanceof KernelError) throw new HostWriteError(target, value, e.code);
      throw e;
    });
    return withTimeout(work, timeoutMs, () => new HostTimeoutError(target, value, timeoutMs));
  }

  /** FBIOGET_CON2FBMAP as the simulated kernel would answer it (vtconsole-rules.ts). */
  override consoleMap(): ConsoleMap {
    this.settleIfDue();
    const state = withLock(this.paths, () => readState(this.paths));
    return { answer: 'map', framebuffers: this.scenario.fbcon ? consoleFramebuffers(state, state.framebuffers.map((f) => f.index)) : [] };
  }

  override loadModule(name: string, options: WriteOptions = {}): Promise<void> {
    return this.emulateModprobe(name, 'load', options);
  }

  override unloadModule(name: string, options: WriteOptions = {}): Promise<void> {
    return this.emulateModprobe(name, 'unload', options);
  }

  /**
   * Reading driver_override takes the device's lock, as on the kernel: while that device's unbind from
   * vfio-pci waits for its group to be let go, the read blocks the reading process. A real kernel would
   * wait forever; the simulator gives up after a while so that a test reading it in-process fails instead of hanging.
   */
  private waitForDeviceLock(rel: string): void {
    const attribute = deviceAttributeOf(rel);
    if (attribute?.attr !== 'driver_override') return;
    const started = Date.now();
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    while (withLock(this.paths, () => readState(this.paths).unbindsWaiting.includes(attribute.address))) {
      if (Date.now() - started > READ_LOCK_GIVE_UP_MS) {
        throw new Error(
          `simulated kernel: reading ${rel} waited ${formatMs(READ_LOCK_GIVE_UP_MS)} on the device lock of ${attribute.address}, whose unbind from ` +
            'vfio-pci waits for its IOMMU group to be let go; a real kernel would block forever: do not read it before releaseGroup',
        );
      }
      Atomics.wait(sleeper, 0, 0, DEVICE_LOCK_POLL_MS);
    }
  }

  /** Stops this object's timers (queued probes, blocked writes) so the process can exit. */
  dispose(): void {
    this.disposed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Completes queued probes that are due (normally timers do it; this also covers a writer that died). */
  settleIfDue(): void {
    if (this.disposed || !fs.existsSync(this.paths.pendingFlag)) return;
    this.mutate(() => undefined);
  }

  private emulateModprobe(name: string, action: 'load' | 'unload', options: WriteOptions): Promise<void> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
    const value = action === 'load' ? name : `-r ${name}`;
    const work = this.run(MODPROBE_PATH, value, (k) => (action === 'load' ? loadModule(k, name) : unloadModule(k, name))).catch(
      (e: unknown) => {
        if (!(e instanceof InjectedFailure)) throw e;
        const verb = action === 'load' ? 'insert' : 'remove';
        throw new ModuleError(name, action, `could not ${verb} '${name}': ${describeErrno(e.code)}`, e.code);
      },
    );
    return withTimeout(work, timeoutMs, () => new ModuleError(name, action, `modprobe did not return within ${formatMs(timeoutMs)}`, 'ETIMEDOUT'));
  }

  /**
   * One write or module operation: fault rules are taken once; a blocking rule, or a device whose
   * unbind waits for a held group (see held-group-model.ts), makes it wait outside the lock; then the
   * emulator applies it. The common case takes the lock once.
   */
  private async run(rel: string, value: string, apply: (k: KernelContext) => void): Promise<void> {
    let effects: FaultEffect[] | undefined;
    let blocked = false;
    // The kernel already decided this write's outcome (an unbind that waits for its group): it returns once that is done.
    let decided = false;
    for (;;) {
      const step = withLock(this.paths, (): 'blocked' | 'waiting' | 'done' => {
        if (effects === undefined) {
          effects = takeFaults(this.paths, rel, value);
          const failure = effects.find((e) => e.kind === 'fail');
          if (failure) throw new InjectedFailure(failure.errno);
        }
        if (!blocked && effects.some((e) => e.kind === 'block')) return 'blocked';
        if (effects.some((e) => e.kind === 'ignore')) return 'done';
        return this.mutateLocked((k) => {
          const locked = rel === MODPROBE_PATH ? undefined : lockedWrite(k, rel, value);
          if (locked && unbindWaiting(k, locked.address)) {
            // A second unbind from vfio-pci passed the kernel's "bound to this driver?" check before the lock.
            decided ||= locked.vfioUnbind;
            return 'waiting';
          }
          if (decided) return 'done';
          if (locked?.vfioUnbind && groupHeld(k, locked.address)) {
            startHeldUnbind(k, locked.address);
            decided = true;
            return 'waiting';
          }
          apply(k);
          return 'done';
        }, probeFaults(effects));
      });
      if (step === 'done') return;
      if (step === 'blocked') {
        await this.blockAsTold(effects ?? []);
        blocked = true;
      } else {
        await this.sleep(DEVICE_LOCK_POLL_MS);
      }
    }
  }

  private async blockAsTold(effects: FaultEffect[]): Promise<void> {
    for (const e of effects) {
      if (e.kind !== 'block') continue;
      if (e.ms === undefined) await new Promise<never>(() => this.keepAliveForever());
      else await this.sleep(e.ms);
    }
  }

  private keepAliveForever(): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.disposed) this.keepAliveForever();
    }, MAX_TIMER_MS);
    this.timers.add(t);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  /** One emulator operation under the lock: settle due probes, run `fn`, save the state if it changed. */
  private mutate<T>(fn: (k: KernelContext) => T, faults?: ProbeFaults): T {
    return withLock(this.paths, () => this.mutateLocked(fn, faults));
  }

  private mutateLocked<T>(fn: (k: KernelContext) => T, faults?: ProbeFaults): T {
    const before = fs.readFileSync(this.paths.state, 'utf8').trimEnd();
    const state = JSON.parse(before) as SimState;
    const hadPending = state.pending.length > 0;
    const k = new KernelContext(this.tree, this.index, state, Date.now(), faults);
    try {
      settleProbes(k);
      return fn(k);
    } finally {
      // Emulator functions check before they change anything, so even a refused write leaves a consistent state.
      if (JSON.stringify(state) !== before) writeState(this.paths, state, hadPending);
      for (const p of k.queued) this.armProbe(p);
    }
  }

  private armProbe(p: PendingProbe): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.disposed || !fs.existsSync(this.paths.state)) return;
      this.mutate(() => undefined);
    }, Math.max(0, p.dueAt - Date.now()));
    this.timers.add(t);
  }
}

function normalise(rel: string): string {
  return path.posix.normalize(rel.replace(/^\/+/, '')).replace(/\/+$/, '');
}

function probeFaults(effects: FaultEffect[]): ProbeFaults | undefined {
  const refusals = effects.filter((e): e is Extract<FaultEffect, { kind: 'no-bind' }> => e.kind === 'no-bind');
  if (refusals.length === 0) return undefined;
  return { refuses: (driver) => refusals.some((r) => r.driver === undefined || r.driver === driver) };
}
