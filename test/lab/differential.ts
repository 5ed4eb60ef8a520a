// The differential check: the job a lab scenario ran on the real kernel runs again on the simulated
// host built from the scenario's twin (src/sim/scenarios/lab-*.ts), and the two sequences of state
// snapshots are compared (for a run whose functions went side by side: each function's steps and the end). A difference is a bug in the simulator (or in its twin scenario).

import { createSimHost } from '../../src/sim/sim-host';
import { loadScenario } from '../../src/sim/scenarios';
import { snapshotHost } from '../../src/sim/snapshot';
import { makeTempRoot } from '../support/temp-root';
import { runTransitionJob } from './guest/transition-job';
import type { GuestResult, RunOutcome } from './lab-job';
import type { LabScenario } from './lab-scenarios';

/**
 * Snapshot fields left out of the comparison, with why. dev/dri/by-path is made by udev, which the
 * lab guest does not run: the real side always reads empty there. The DRM nodes themselves (`dri`:
 * card*, renderD*, made by the kernel) are compared.
 */
export const NOT_COMPARED: Record<string, string> = { drm: 'dev/dri/by-path is created by udev, which the lab guest does not run' };

export async function runOnSimulator(scenario: LabScenario): Promise<GuestResult> {
  const { job } = scenario;
  if (job.kind !== 'transitions') throw new Error(`lab scenario ${scenario.name} has no transitions to replay on the simulator`);
  const sim = await createSimHost(loadScenario(scenario.simScenario));
  const state = makeTempRoot('gpu-hookd-lab-sim-state-');
  try {
    const { baseline, runs } = await runTransitionJob(job, { io: sim.io, stateDir: state.root, snapshot: snapshotHost });
    return { job, kernel: 'simulator', baseline, runs };
  } finally {
    await sim.dispose();
    state.cleanup();
  }
}

/**
 * Every way the simulator's run differs from the kernel's, one line each ([] when they agree). The
 * same difference seen at many steps is one line naming the first place and how many more.
 */
export function differences(kernel: GuestResult, simulator: GuestResult): string[] {
  const byWhat = new Map<string, string[]>();
  for (const { where, what } of locatedDifferences(kernel, simulator)) byWhat.set(what, [...(byWhat.get(what) ?? []), where]);
  return [...byWhat].map(([what, places]) => `${what} (${places[0]}${places.length > 1 ? ` and ${places.length - 1} more places` : ''})`);
}

/** Passes when the simulator agrees with the kernel; else fails listing the differences. */
export function assertSimulatorAgrees(kernel: GuestResult, simulator: GuestResult): void {
  const found = differences(kernel, simulator);
  if (found.length === 0) return;
  throw new Error(`the simulated host differs from the real kernel in ${found.length} way${found.length === 1 ? '' : 's'}:\n  ${found.join('\n  ')}`);
}

interface Difference {
  where: string;
  what: string;
}

function locatedDifferences(kernel: GuestResult, simulator: GuestResult): Difference[] {
  const out = diffJson(kernel.baseline, simulator.baseline, 'baseline');
  const real = kernel.runs ?? [];
  const sim = simulator.runs ?? [];
  if (real.length !== sim.length) {
    out.push({ where: 'the job', what: `runs: the kernel made ${real.length} (${labels(real)}), the simulator ${sim.length} (${labels(sim)})` });
  }
  for (let i = 0; i < Math.min(real.length, sim.length); i++) out.push(...runDifferences(real[i], sim[i]));
  return out;
}

function runDifferences(real: RunOutcome, sim: RunOutcome): Difference[] {
  const at = `run "${real.label}"`;
  const out: Difference[] = [];
  const outcome = (r: RunOutcome): string => (r.ok ? `ok${r.changed === false ? ' (nothing to do)' : ''}` : `failed with ${r.error?.code}`);
  if (outcome(real) !== outcome(sim)) out.push({ where: at, what: `the kernel's run ${outcome(real)}, the simulator's ${outcome(sim)}` });
  if (real.sideBySide) return [...out, ...sideBySideDifferences(real, sim, at)];
  const steps = (r: RunOutcome): string[] => r.snapshots.map((s) => s.after);
  if (JSON.stringify(steps(real)) !== JSON.stringify(steps(sim))) {
    out.push({ where: at, what: `steps differ: kernel [${steps(real).join('; ')}], simulator [${steps(sim).join('; ')}]` });
    return out;
  }
  real.snapshots.forEach((s, i) => out.push(...diffJson(s.snapshot, sim.snapshots[i].snapshot, `${at} after "${s.after}"`)));
  out.push(...diffJson(real.end, sim.end, `${at} at the end`));
  return out;
}

/**
 * A run whose functions' steps went side by side ends its steps in an order that depends on the
 * kernel's timing, and so does the state between them: each function's own steps, in order, and the
 * end state are compared. When a run failed at its Nth write, which write that was depends on the
 * timing too (writes are numbered as issued): its outcome and end state are compared.
 */
function sideBySideDifferences(real: RunOutcome, sim: RunOutcome, at: string): Difference[] {
  const out: Difference[] = [];
  const byFunction = (r: RunOutcome): string => {
    const runs = new Map<string, string[]>();
    for (const { after } of r.snapshots.slice(1)) {
      const device = /\b[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\b/.exec(after)?.[0] ?? '(group)';
      runs.set(device, [...(runs.get(device) ?? []), after]);
    }
    return [...runs].sort(([a], [b]) => a.localeCompare(b)).map(([device, steps]) => `${device}: ${steps.join('; ')}`).join(' | ');
  };
  if (real.ok && sim.ok && byFunction(real) !== byFunction(sim)) {
    out.push({ where: at, what: `each function's steps differ: kernel [${byFunction(real)}], simulator [${byFunction(sim)}]` });
  }
  out.push(...diffJson(real.end, sim.end, `${at} at the end`));
  return out;
}

/** Differences of two snapshots, field by field and, inside records, key by key. */
function diffJson(real: unknown, sim: unknown, where: string): Difference[] {
  if (!isRecord(real) || !isRecord(sim)) {
    return same(real, sim) ? [] : [{ where, what: `kernel ${show(real)}, simulator ${show(sim)}` }];
  }
  const out: Difference[] = [];
  for (const key of [...new Set([...Object.keys(real), ...Object.keys(sim)])].sort()) {
    if (key in NOT_COMPARED) continue;
    const a = real[key];
    const b = sim[key];
    if (isRecord(a) && isRecord(b)) {
      for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        if (!same(a[k], b[k])) out.push({ where, what: `${key}[${k}]: kernel ${show(a[k])}, simulator ${show(b[k])}` });
      }
    } else if (!same(a, b)) {
      out.push({ where, what: `${key}: kernel ${show(a)}, simulator ${show(b)}` });
    }
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function show(v: unknown): string {
  return v === undefined ? '(absent)' : JSON.stringify(v);
}

function labels(runs: RunOutcome[]): string {
  return runs.map((r) => r.label).join(', ');
}
