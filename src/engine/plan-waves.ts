// Which steps of a plan may run at the same time. A group move is, per function, a run of steps that
// touch only that function (its override, its unbind, its probe); the kernel takes each function's
// own device lock, so the runs of different functions can go on together, and a card's slowest driver
// (an unbind that waits seconds for the GPU driver) no longer adds to the others'. Every other step
// (a module, /dev/vfio, the display manager, consoles) stays alone in its wave, in plan order.

import { stepDevice, type StepSpec } from './step-spec';

/** Steps `first`..`last` (plan indices) on one function, run in order. */
export interface StepRun {
  first: number;
  last: number;
}

/** Runs that start together; the next wave starts when all of them ended. */
export interface Wave {
  first: number;
  last: number;
  runs: StepRun[];
}

/**
 * Splits `plan` into waves: a maximal stretch of function-local steps becomes one wave with one run
 * per function (each function's steps must be consecutive: a function met again later in the stretch
 * starts a new wave, so its steps never overtake each other); any other step is a wave of its own.
 */
export function planWaves(plan: readonly StepSpec[], isFunctionLocal: (spec: StepSpec) => boolean): Wave[] {
  const waves: Wave[] = [];
  let open: { wave: Wave; seen: Set<string> } | undefined;
  plan.forEach((spec, index) => {
    const device = isFunctionLocal(spec) ? stepDevice(spec) : undefined;
    if (device === undefined) {
      open = undefined;
      waves.push({ first: index, last: index, runs: [{ first: index, last: index }] });
      return;
    }
    const current = open?.wave.runs[open.wave.runs.length - 1];
    if (open && current && stepDevice(plan[current.last]) === device) {
      current.last = index;
      open.wave.last = index;
      return;
    }
    if (!open || open.seen.has(device)) {
      open = { wave: { first: index, last: index, runs: [] }, seen: new Set() };
      waves.push(open.wave);
    }
    open.seen.add(device);
    open.wave.runs.push({ first: index, last: index });
    open.wave.last = index;
  });
  return waves;
}
