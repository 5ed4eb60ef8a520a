// Runs a plan step by step (do, then verify), the runs of different functions in a group move side
// by side (plan-waves.ts), and, when a step fails, undoes that step and every step before it in
// reverse. The runner knows nothing of journals or GPUs: the caller's `beforeStep` makes the journal
// durable, and `emit` carries per-step events to logs, D-Bus and the CLI.
// A function whose unbind from vfio-pci timed out is left to the kernel (left-to-kernel.ts): its
// steps are not undone.

import { messageOf } from './engine-error';
import { unbindLeftToKernel } from './left-to-kernel';
import { planWaves } from './plan-waves';
import type { StepContext, StepRegistry } from './step-executor';
import { stepDevice } from './step-spec';
import type { StepSpec } from './step-spec';

export type StepPhase = 'do' | 'undo';

export interface StepProgress {
  phase: StepPhase;
  status: 'started' | 'finished' | 'failed';
  /** Index of the step in its plan. */
  index: number;
  total: number;
  description: string;
  device?: string;
  /** Set when finished or failed. */
  ms?: number;
  /** Set when failed: the cause, one sentence. */
  error?: string;
  /** Set when finished with something worth saying about the outcome. */
  note?: string;
}

export interface StepRecord {
  description: string;
  device?: string;
  ms: number;
  note?: string;
}

export interface StepFailure {
  index: number;
  description: string;
  cause: unknown;
}

export interface RunOptions {
  ctx: StepContext;
  registry: StepRegistry;
  /** Awaited before a wave of steps ending at `index` starts: every step up to `index` may start
   *  once it resolves (the journal reaches disk here). */
  beforeStep?: (index: number) => Promise<void>;
  emit?: (event: StepProgress) => void;
  /** Run every step alone, in plan order, even those of different functions (see plan-waves.ts). */
  oneAtATime?: boolean;
}

/** Thrown by runPlan after its rollback: what failed, and what (if anything) failed to roll back. */
export class PlanFailure extends Error {
  constructor(
    readonly failed: StepFailure,
    readonly rollbackFailures: StepFailure[],
    readonly done: StepRecord[],
    /** Functions left to the kernel in an unbind from vfio-pci that timed out: nothing of theirs was undone. */
    readonly leftToKernel: readonly string[] = [],
  ) {
    super(`step '${failed.description}' failed`, { cause: failed.cause });
    this.name = 'PlanFailure';
  }
}

export async function runPlan(plan: readonly StepSpec[], opts: RunOptions): Promise<StepRecord[]> {
  const { ctx, registry } = opts;
  const done: StepRecord[] = [];
  for (const wave of planWaves(plan, (spec) => !opts.oneAtATime && registry.executorFor(spec).functionLocal === true)) {
    const failures: StepFailure[] = [];
    const finished: (StepRecord & { index: number })[] = [];
    const runStep = async (index: number): Promise<void> => {
      const spec = plan[index];
      const executor = registry.executorFor(spec);
      const base = { phase: 'do' as const, index, total: plan.length, description: executor.describe(spec), device: stepDevice(spec) };
      const started = performance.now();
      let note: string | undefined;
      try {
        if (ctx.signal?.aborted) throw new Error('the transition was cancelled');
        opts.emit?.({ ...base, status: 'started' });
        note = (await executor.do(ctx, spec)) ?? undefined;
        await executor.verify(ctx, spec);
      } catch (cause) {
        opts.emit?.({ ...base, status: 'failed', ms: performance.now() - started, error: messageOf(cause) });
        failures.push({ index, description: base.description, cause });
        return;
      }
      const ms = performance.now() - started;
      opts.emit?.({ ...base, status: 'finished', ms, ...(note ? { note } : {}) });
      finished.push({ index, description: base.description, device: base.device, ms, ...(note ? { note } : {}) });
    };
    try {
      // The journal covers the whole wave before it starts (every step in it may start before any
      // ends); one mark may cover more (journal.ts covers a whole group move with one).
      await opts.beforeStep?.(wave.last);
    } catch (cause) {
      failures.push({ index: wave.first, description: registry.describe(plan[wave.first]), cause });
    }
    if (failures.length === 0) {
      // A run stops at its first failure, and every other run of the wave before its next step.
      await Promise.all(
        wave.runs.map(async (run) => {
          for (let index = run.first; index <= run.last && failures.length === 0; index++) await runStep(index);
        }),
      );
    }
    done.push(...finished.sort((a, b) => a.index - b.index).map(({ index: _, ...record }) => record));
    if (failures.length > 0) {
      // Runs that failed side by side are reported by plan order, not by which the kernel answered
      // first: the same failure reads the same each time (on attach, the GPU's run comes first).
      failures.sort((a, b) => a.index - b.index);
      // Failed steps may have half run, and steps of the wave that never started are safe to undo.
      // Every run that failed may have left its function to the kernel, not only the first to fail.
      const leftToKernel = new Set<string>();
      for (const f of failures.slice(1)) {
        const device = unbindLeftToKernel(f.cause);
        if (device !== undefined) leftToKernel.add(device);
      }
      const rollbackFailures = await undoSteps(plan.slice(0, wave.last + 1), { ...opts, leftToKernel }, failures[0].cause);
      throw new PlanFailure(failures[0], rollbackFailures, done, [...leftToKernel]);
    }
  }
  return done;
}

/** An undo whose writes returned but whose read-back shows the host not restored. */
export class KernelDidNotFollow extends Error {
  constructor(cause: unknown) {
    super(`the undo's writes returned but the host did not follow: ${messageOf(cause)}`, { cause });
    this.name = 'KernelDidNotFollow';
  }
}

export interface UndoOptions extends Pick<RunOptions, 'ctx' | 'registry' | 'emit'> {
  /** Functions whose steps are skipped; an undo that times out unbinding one from vfio-pci adds it. */
  leftToKernel?: Set<string>;
}

/**
 * Undoes `steps` (a plan's prefix) in reverse. Goes on past a failed undo, so that as much of the
 * host as possible comes back, and returns the failures. `failedWith`: why the last step failed.
 * `opts.leftToKernel` ends holding every function left to the kernel.
 */
export async function undoSteps(steps: readonly StepSpec[], opts: UndoOptions, failedWith?: unknown): Promise<StepFailure[]> {
  const failures: StepFailure[] = [];
  const leftToKernel = opts.leftToKernel ?? new Set<string>();
  /** True when `cause` leaves a function to the kernel: a fact reported on its own, not a failed undo. */
  const leave = (cause: unknown): boolean => {
    const device = unbindLeftToKernel(cause);
    if (device !== undefined) leftToKernel.add(device);
    return device !== undefined;
  };
  leave(failedWith);
  for (let index = steps.length - 1; index >= 0; index--) {
    const spec = steps[index];
    const device = stepDevice(spec);
    if (device !== undefined && leftToKernel.has(device)) continue;
    let description = `step ${index + 1} (${String(spec.kind)})`;
    const started = performance.now();
    try {
      const executor = opts.registry.executorFor(spec);
      description = executor.describe(spec);
      opts.emit?.({ phase: 'undo', status: 'started', index, total: steps.length, description, device });
      await executor.undo(opts.ctx, spec);
      await executor.undone(opts.ctx, spec).catch((e: unknown) => {
        throw new KernelDidNotFollow(e);
      });
      opts.emit?.({ phase: 'undo', status: 'finished', index, total: steps.length, description, device, ms: performance.now() - started });
    } catch (cause) {
      if (!leave(cause)) failures.push({ index, description, cause });
      opts.emit?.({
        phase: 'undo',
        status: 'failed',
        index,
        total: steps.length,
        description,
        device,
        ms: performance.now() - started,
        error: messageOf(cause),
      });
    }
  }
  return failures;
}
