// The lab benchmark's guest side: rounds of the engine's detach and attach of the GPU's group,
// alternated with the floor (floor.sh: the same sysfs writes from a shell, nothing else), on the
// real kernel. Each kernel write of the engine's rounds is timed through the write tap.

import { TransitionEngine } from '../../../src/engine/transition-engine';
import type { HostIO } from '../../../src/host/host-io';
import type { BenchJob, BenchTimes } from '../lab-job';
import { runBounded } from '../runner/command';
import { TappedHostIO } from './tapped-host-io';
import { waitForDrivers } from './transition-job';

export interface BenchContext {
  io: HostIO;
  stateDir: string;
  /** floor.sh, somewhere the guest's busybox sh can read it. */
  floorScript: string;
}

const FLOOR_TIMEOUT_MS = 30_000;

export async function runBenchJob(job: BenchJob, ctx: BenchContext): Promise<BenchTimes> {
  await waitForDrivers(ctx.io, job.settle);
  const group = ctx.io.readLinkName(`sys/bus/pci/devices/${job.gpu}/iommu_group`);
  if (group === undefined) throw new Error(`the lab GPU ${job.gpu} is in no IOMMU group: the guest booted without intel_iommu=on`);
  const pairs = Object.entries(job.settle).map(([f, driver]) => `${f}=${driver}`);
  const times: BenchTimes = {
    engineDetach: [],
    engineAttach: [],
    floorDetach: [],
    floorAttach: [],
    shellStart: [],
    kernelSteps: {},
    engineSteps: {},
    engineOutsideSteps: { detach: [], attach: [] },
  };
  for (let round = 0; round < job.rounds; round++) {
    const tap = new TappedHostIO(ctx.io);
    const engine = new TransitionEngine({ io: tap, stateDir: ctx.stateDir });
    for (const direction of ['detach', 'attach'] as const) {
      const started = performance.now();
      const report = await (direction === 'detach' ? engine.detach(job.gpu) : engine.attach(job.gpu));
      const total = performance.now() - started;
      (direction === 'detach' ? times.engineDetach : times.engineAttach).push(total);
      times.engineOutsideSteps[direction].push(total - report.steps.reduce((sum, s) => sum + s.ms, 0));
      for (const w of tap.writes.splice(0)) add(times.kernelSteps, `${direction}: ${w.path} <- ${w.value.trim() || '(clear)'}`, w.ms);
      for (const s of report.steps) add(times.engineSteps, `${direction}: ${s.description}`, s.ms);
    }
    times.floorDetach.push(await floor(ctx.floorScript, ['detach', group, ...pairs]));
    times.floorAttach.push(await floor(ctx.floorScript, ['attach', ...pairs]));
    times.shellStart.push(await floor(ctx.floorScript, ['noop']));
  }
  return times;
}

async function floor(script: string, args: string[]): Promise<number> {
  const r = await runBounded('sh', [script, ...args], { timeoutMs: FLOOR_TIMEOUT_MS });
  if (r.timedOut || r.code !== 0) {
    throw new Error(`floor.sh ${args.join(' ')} failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${r.stderr.trim()}`);
  }
  return r.wallMs;
}

function add(into: Record<string, number[]>, key: string, ms: number): void {
  (into[key] ??= []).push(ms);
}
