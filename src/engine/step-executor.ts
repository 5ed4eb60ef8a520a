// What a step kind must provide, and the registry that maps a journal's `kind` to its code.

import type { ProcessAccess } from '../cpu/process-access';
import type { HostIO } from '../host/host-io';
import type { HostServices } from '../host/host-services';
import { DEFAULT_WRITE_TIMEOUT_MS } from '../host/host-io';
import type { StepKind, StepOf, StepSpec } from './step-spec';

/** The subset of pino the engine uses; a pino logger fits it. */
export interface EngineLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  /** pino's: lets a caller skip building a debug line nobody reads (every step makes two). */
  isLevelEnabled?(level: string): boolean;
}

export const silentLog: EngineLog = { debug() {}, info() {}, warn() {}, error() {}, isLevelEnabled: () => false };

export interface EngineTimeouts {
  /** One sysfs write (unbind of a busy device can block in the kernel forever). */
  writeMs: number;
  /** One modprobe (large GPU modules take seconds). */
  moduleMs: number;
  /** Until a driver link reads what was asked: some drivers (snd_hda_intel) probe asynchronously. */
  probeMs: number;
  /** Until /dev/vfio/<group> is there once the group's functions are on vfio-pci (the kernel makes it with the first). */
  vfioDeviceMs: number;
  /** Until a systemd unit job (stopping the display manager), a logind session's end or a terminated
   *  process's exit is over. */
  unitJobMs: number;
  /** Not a time but a bound of the same kind: how many resets an attach tries on a function whose host
   *  driver did not take it back, before it gives up (give-back-reset.ts); 0: none. */
  giveBackResets: number;
  /** After the display manager stopped, until logind has ended the sessions it ends by itself. */
  sessionEndMs: number;
}

export const DEFAULT_TIMEOUTS: EngineTimeouts = {
  writeMs: DEFAULT_WRITE_TIMEOUT_MS,
  moduleMs: 30_000,
  probeMs: 5_000,
  vfioDeviceMs: 5_000,
  unitJobMs: 20_000,
  giveBackResets: 2,
  sessionEndMs: 3_000,
};

export interface StepContext {
  io: HostIO;
  log: EngineLog;
  timeouts: EngineTimeouts;
  signal?: AbortSignal;
  /** systemd and logind on the system bus; only steps of the single-GPU handover need them. */
  services?: HostServices;
  /** Signals to host processes; absent (recovery, whose undos signal nothing): none are sent. */
  processes?: Pick<ProcessAccess, 'signal'>;
}

/**
 * do / verify / undo of one step kind. `undo` reads the kernel's state first and changes only what
 * still differs: it must be safe when `do` never ran, half ran, or ran twice, because recovery after
 * a crash undoes every step that might have started.
 */
export interface StepExecutor<K extends StepKind = StepKind> {
  /** A short imperative phrase naming the device: "unbind 0000:01:00.1 from snd_hda_intel". */
  describe(spec: StepOf<K>): string;
  /** Resolves with a note when the outcome needs saying ("the kernel removed efi-framebuffer.0"). */
  do(ctx: StepContext, spec: StepOf<K>): Promise<void | string>;
  /** Throws when the kernel does not read back what `do` asked for. */
  verify(ctx: StepContext, spec: StepOf<K>): Promise<void>;
  undo(ctx: StepContext, spec: StepOf<K>): Promise<void>;
  /**
   * Reads back what `undo` restored and throws, naming what the host reads, when the kernel (or
   * systemd) did not follow: a write can return and change nothing. Run after every undo; a step
   * with nothing to undo has nothing to check.
   */
  undone(ctx: StepContext, spec: StepOf<K>): Promise<void>;
  /** True when the step reads and writes only its own PCI function's state in sysfs: the runner may
   *  then run it alongside another function's steps (plan-waves.ts). */
  functionLocal?: boolean;
}

export class UnknownStepKindError extends Error {
  constructor(readonly kind: string) {
    super(`step kind "${kind}" is unknown to this version of gpu-hookd (a journal written by another version?)`);
    this.name = 'UnknownStepKindError';
  }
}

export class StepRegistry {
  private readonly executors = new Map<string, StepExecutor<StepKind>>();

  register<K extends StepKind>(kind: K, executor: StepExecutor<K>): this {
    if (this.executors.has(kind)) throw new Error(`step kind "${kind}" is registered twice`);
    this.executors.set(kind, executor as unknown as StepExecutor<StepKind>);
    return this;
  }

  has(kind: string): boolean {
    return this.executors.has(kind);
  }

  executorFor(spec: StepSpec): StepExecutor<StepKind> {
    const executor = this.executors.get(spec.kind);
    if (!executor) throw new UnknownStepKindError(String(spec.kind));
    return executor;
  }

  describe(spec: StepSpec): string {
    return this.executorFor(spec).describe(spec);
  }
}
