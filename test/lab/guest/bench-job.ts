// The lab benchmark's guest side: rounds of the engine's detach and attach of the GPU's group,
// alternated with the floor (floor.sh: the same sysfs writes from a shell, nothing else), on the
// real kernel. Each kernel write of the engine's rounds is timed through the write tap. Every timed
// call (the floor's shell start too) starts on a settled guest.

import { spawn } from 'node:child_process';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { TransitionEngine, type StepEvent } from '../../../src/engine/transition-engine';
import type { HostIO } from '../../../src/host/host-io';
import { emptyBenchTimes, type BenchJob, type BenchTimes } from '../lab-job';
import { TappedHostIO } from './tapped-host-io';
import { waitForDrivers } from './transition-job';

export interface BenchContext {
  io: HostIO;
  stateDir: string;
  /** floor.sh, somewhere the guest's busybox sh can read it. */
  floorScript: string;
}

const FLOOR_TIMEOUT_MS = 30_000;
const SETTLE_WINDOW_MS = 100;
const SETTLE_IDLE_SHARE = 0.9;
const SETTLE_MAX_WINDOWS = 20;

export async function runBenchJob(job: BenchJob, ctx: BenchContext): Promise<BenchTimes> {
  await waitForDrivers(ctx.io, job.settle);
  const group = ctx.io.readLinkName(`sys/bus/pci/devices/${job.gpu}/iommu_group`);
  if (group === undefined) throw new Error(`the lab GPU ${job.gpu} is in no IOMMU group: the guest booted without intel_iommu=on`);
  const pairs = Object.entries(job.settle).map(([f, driver]) => `${f}=${driver}`);
  const times = emptyBenchTimes();
  // One engine for every round, as the daemon keeps one for its life.
  const tap = new TappedHostIO(ctx.io, { timeCalls: job.traceCalls === true });
  const engine = new TransitionEngine({ io: tap, stateDir: ctx.stateDir });
  for (let round = 0; round < job.rounds; round++) {
    for (const direction of ['detach', 'attach'] as const) {
      await settle(ctx.io);
      // When the first step starts and the last ends: the functions' steps overlap.
      let firstStart: number | undefined;
      let lastEnd = 0;
      const onStep = (e: StepEvent): void => {
        if (e.status === 'started') firstStart ??= performance.now();
        else lastEnd = performance.now();
      };
      const started = performance.now();
      const report = await (direction === 'detach' ? engine.detach(job.gpu, { onStep }) : engine.attach(job.gpu, { onStep }));
      const total = performance.now() - started;
      (direction === 'detach' ? times.engineDetach : times.engineAttach).push(total);
      times.engineBeforeSteps[direction].push((firstStart ?? started + total) - started);
      times.engineAfterSteps[direction].push(lastEnd === 0 ? 0 : started + total - lastEnd);
      for (const w of tap.writes.splice(0)) add(times.kernelSteps, `${direction}: ${w.path} <- ${w.value.trim() || '(clear)'}`, w.ms);
      const calls = tap.calls.splice(0);
      const reads = calls.filter((c) => c.op !== 'write');
      times.engineReads[direction].count.push(reads.length);
      times.engineReads[direction].ms.push(reads.reduce((sum, c) => sum + c.ms, 0));
      times.lastRoundCalls[direction] = calls.map((c) => ({ ...c, at: c.at - started }));
      for (const s of report.steps) add(times.engineSteps, `${direction}: ${s.description}`, s.ms);
    }
    times.floorDetach.push(await floor(ctx, ['detach', group, ...pairs]));
    times.floorAttach.push(await floor(ctx, ['attach', ...pairs]));
    times.floorHandoff.push(await floor(ctx, ['handoff']));
  }
  return times;
}

/**
 * One run of floor.sh, timed from the "go" it waits for to its "done": the shell is started, and the
 * guest settled, before the clock starts, so that only its writes and waits are timed (with the two
 * pipe wake-ups that say go and done, as the engine's time has its own).
 */
async function floor(ctx: BenchContext, args: string[]): Promise<number> {
  const child = spawn('sh', [ctx.floorScript, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), FLOOR_TIMEOUT_MS);
  let stdout = '';
  let stderr = '';
  const said = new Map<string, () => void>();
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
    for (const [word, resolve] of said) if (stdout.includes(`${word}\n`)) resolve();
  });
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const failed = exited.then((code) => {
    throw new Error(`floor.sh ${args.join(' ')} ended (exit ${code ?? 'killed'}) before it said done: ${stderr.trim() || 'no message'}`);
  });
  const saying = (word: string): Promise<void> => Promise.race([new Promise<void>((resolve) => said.set(word, resolve)), failed]);
  try {
    await saying('ready');
    await settle(ctx.io);
    const done = saying('done');
    const started = performance.now();
    child.stdin.write('go\n');
    await done;
    const ms = performance.now() - started;
    child.stdin.end();
    if ((await exited) !== 0) throw new Error(`floor.sh ${args.join(' ')} failed after it said done: ${stderr.trim() || 'no message'}`);
    return ms;
  } finally {
    clearTimeout(timer);
    failed.catch(() => undefined);
  }
}

/**
 * Resolves once the guest's CPUs were nearly idle for one window, so that no call is timed while the
 * kernel still works on the last one (fbcon redrawing the console on the GPU an attach gave back takes
 * tens of ms under TCG, in a kworker); bounded, because a busy machine may never look idle.
 */
async function settle(io: HostIO): Promise<void> {
  collectGarbage();
  for (let i = 0; i < SETTLE_MAX_WINDOWS; i++) {
    const before = cpuTimes(io);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_WINDOW_MS));
    const after = cpuTimes(io);
    if (after.idle - before.idle >= SETTLE_IDLE_SHARE * (after.total - before.total)) return;
  }
}

/** Idle and total time of all CPUs so far, in ticks, from the first line of /proc/stat. */
function cpuTimes(io: HostIO): { idle: number; total: number } {
  const fields = (io.readText('proc/stat') ?? '').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are the idle time
  return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total: fields.slice(0, 8).reduce((sum, n) => sum + n, 0) };
}

// The harness's own garbage (the floor's child processes, the timings) is collected before each timed
// call, so that no call pays for a collection of what the harness made.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

function add(into: Record<string, number[]>, key: string, ms: number): void {
  (into[key] ??= []).push(ms);
}
