// Runs a TransitionJob on any HostIO: the real kernel in the lab guest, or the simulated host for the
// differential check. The engine is the project's own; the state is snapshotted after every step it
// finishes (or undoes), so two kernels can be compared step by step.

import { isDeepStrictEqual } from 'node:util';
import type { HostIO } from '../../../src/host/host-io';
import { runPlan, type StepRecord } from '../../../src/engine/plan-runner';
import { DEFAULT_TIMEOUTS, silentLog } from '../../../src/engine/step-executor';
import { builtinStepRegistry } from '../../../src/engine/steps/builtin-steps';
import { TransitionEngine, type StepEvent } from '../../../src/engine/transition-engine';
import type { RunOutcome, Snapshot, StepSnapshot, TransitionJob, TransitionRun } from '../lab-job';
import { TappedHostIO } from './tapped-host-io';

export type SnapshotFn = (io: HostIO) => Snapshot;

export interface JobContext {
  io: HostIO;
  /** The engine's state directory, kept across the job's runs as a daemon keeps it. */
  stateDir: string;
  snapshot: SnapshotFn;
}

/** A sweep stops here even if the transition never succeeds: a plan has far fewer writes. */
const MAX_SWEEP = 40;
const SETTLE_TIMEOUT_MS = 20_000;
const POLL_MS = 50;
/** The state counts as settled once it reads the same this far apart. */
const STABLE_MS = 200;
const STABLE_TIMEOUT_MS = 5_000;

export async function runTransitionJob(job: TransitionJob, ctx: JobContext): Promise<{ baseline: Snapshot; runs: RunOutcome[] }> {
  await waitForDrivers(ctx.io, job.settle);
  const baseline = await settledSnapshot(ctx);
  const runs: RunOutcome[] = [];
  for (const run of job.runs) {
    if (!run.sweep) {
      runs.push(await runOnce(run, ctx));
      continue;
    }
    for (let failAt = 1; failAt <= MAX_SWEEP; failAt++) {
      const outcome = await runOnce({ ...run, label: `${run.label}@${failAt}`, failAt }, ctx);
      runs.push(outcome);
      if (outcome.ok) break;
    }
  }
  return { baseline, runs };
}

async function runOnce(run: TransitionRun, ctx: JobContext): Promise<RunOutcome> {
  const tap = new TappedHostIO(ctx.io, { failAt: run.failAt });
  const engine = new TransitionEngine({ io: tap, stateDir: ctx.stateDir, sideBySide: run.sideBySide === true });
  const snapshots: StepSnapshot[] = [{ after: 'start', snapshot: ctx.snapshot(ctx.io) }];
  const onStep = (e: Pick<StepEvent, 'status' | 'phase' | 'description'>): void => {
    if (e.status === 'started') return;
    const suffix = e.status === 'failed' ? ' (failed)' : '';
    snapshots.push({ after: `${e.phase} ${e.description}${suffix}`, snapshot: ctx.snapshot(ctx.io) });
  };
  let result: Pick<RunOutcome, 'ok' | 'changed' | 'error' | 'steps' | 'notes' | 'totalMs'>;
  try {
    const report =
      run.action === 'steps'
        ? await runSteps(run, tap, onStep)
        : await (run.action === 'detach' ? engine.detach(run.gpu, { onStep, handover: run.handover }) : engine.attach(run.gpu, { onStep }));
    const steps = report.steps.map((s) => ({ description: s.description, device: s.device, ms: s.ms, ...(s.note ? { note: s.note } : {}) }));
    const { notes } = report as { notes?: string[] };
    result = { ok: true, changed: report.changed, steps, ...(notes ? { notes } : {}), totalMs: report.totalMs };
  } catch (e) {
    const err = e as Error & { code?: unknown };
    result = { ok: false, error: { code: typeof err.code === 'string' ? err.code : err.name, message: err.message }, steps: [] };
  }
  const end = await settledSnapshot(ctx);
  return { label: run.label, action: run.action, gpu: run.gpu, failAt: run.failAt, sideBySide: run.sideBySide, ...result, writes: tap.writes, snapshots, end };
}

/** A "steps" run: its steps as one plan, rolled back on failure, as the engine runs them. */
async function runSteps(
  run: TransitionRun,
  io: HostIO,
  onStep: (e: Pick<StepEvent, 'status' | 'phase' | 'description'>) => void,
): Promise<{ steps: StepRecord[]; changed: boolean; totalMs: number }> {
  const started = performance.now();
  const steps = await runPlan(run.steps ?? [], { ctx: { io, log: silentLog, timeouts: DEFAULT_TIMEOUTS }, registry: builtinStepRegistry(), emit: onStep });
  return { steps, changed: steps.length > 0, totalMs: performance.now() - started };
}

/** Waits (bounded) until each listed function is bound to its driver: some drivers probe late. */
export async function waitForDrivers(io: HostIO, want: Record<string, string | null>): Promise<void> {
  const wrong = (): string[] =>
    Object.entries(want).flatMap(([address, driver]) => {
      const now = io.readLinkName(`sys/bus/pci/devices/${address}/driver`) ?? null;
      return now === driver ? [] : [`${address} (want ${driver ?? 'no driver'}, is ${now ?? 'unbound'})`];
    });
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  while (wrong().length > 0) {
    if (performance.now() > deadline) {
      throw new Error(`the lab host did not reach its starting drivers within ${SETTLE_TIMEOUT_MS} ms: ${wrong().join(', ')}`);
    }
    await delay(POLL_MS);
  }
}

/** A snapshot that reads the same twice STABLE_MS apart (asynchronous probes have finished). */
export async function settledSnapshot(ctx: JobContext): Promise<Snapshot> {
  const deadline = performance.now() + STABLE_TIMEOUT_MS;
  let last = ctx.snapshot(ctx.io);
  for (;;) {
    await delay(STABLE_MS);
    const next = ctx.snapshot(ctx.io);
    if (isDeepStrictEqual(next, last) || performance.now() > deadline) return next;
    last = next;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
