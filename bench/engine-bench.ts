// Benchmark of the transition engine on the simulated host with the emulator's delays at zero.
//  1. detach+attach of the seed's 4-function group through the engine (plan, journal, checks,
//     records), against a baseline in the same process: the bare sequence of the same HostIO writes
//     with no plan, journal or verification. Runs alternate so that machine load hits both alike.
//  2. What the journal's disk flushes cost per cycle, measured apart on the same file system.
//  3. Planning for the 8-GPU server: discovery plus a detach plan for every GPU.
// Usage: node dist/bench/engine-bench.js [--runs N]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../src/engine/atomic-file';
import { planDetach } from '../src/engine/detach-plan';
import { Journal, marksOf } from '../src/engine/journal';
import type { StepSpec } from '../src/engine/step-spec';
import { TransitionEngine, type TransitionReport } from '../src/engine/transition-engine';
import { discoverGpus } from '../src/host/gpu-inventory';
import type { HostIO } from '../src/host/host-io';
import { isPciDriverRegistered } from '../src/host/modules';
import { VFIO_DRIVER } from '../src/host/pci-device';
import { gpuViability } from '../src/host/viability';
import { loadScenario } from '../src/sim/scenarios';
import { createSimHost, type SimHost } from '../src/sim/sim-host';
import { median } from './bench-stats';

const GOAL_CYCLE_MS = 15;
const GOAL_PLANNING_MS = 20;
const GPU = '0000:01:00.0';
const SHM = '/dev/shm';
const SEED_FUNCTIONS: [string, string][] = [
  ['0000:01:00.0', 'nouveau'],
  ['0000:01:00.1', 'snd_hda_intel'],
  ['0000:01:00.2', 'xhci_hcd'],
  ['0000:01:00.3', 'nvidia-gpu'],
];

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** The floor: the kernel writes a detach and an attach need, with nothing around them. */
async function bareCycle(io: HostIO): Promise<void> {
  for (const [address, driver] of SEED_FUNCTIONS) {
    await io.write(`sys/bus/pci/devices/${address}/driver_override`, VFIO_DRIVER);
    await io.write(`sys/bus/pci/drivers/${driver}/unbind`, address);
    await io.write('sys/bus/pci/drivers_probe', address);
  }
  for (const [address] of SEED_FUNCTIONS) {
    await io.write(`sys/bus/pci/devices/${address}/driver_override`, '\n');
    await io.write(`sys/bus/pci/drivers/${VFIO_DRIVER}/unbind`, address);
    await io.write('sys/bus/pci/drivers_probe', address);
  }
}

/**
 * The simulated tree goes to memory (/dev/shm) when there is one, as sysfs is on a real host; in the
 * temp dir on disk, the emulator's file churn would land in the same file system journal as our
 * fdatasyncs and be billed to them. The state directory stays on disk, as /var/lib/gpu-hookd does.
 */
async function memorySimHost(scenario: string): Promise<SimHost> {
  if (!fs.existsSync(SHM)) return createSimHost(loadScenario(scenario), { zeroDelays: true });
  const dir = fs.mkdtempSync(path.join(SHM, 'gpu-hookd-bench-sim-'));
  const host = await createSimHost(loadScenario(scenario), { zeroDelays: true, dir });
  return {
    ...host,
    dispose: async () => {
      await host.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Journal marks of a transition, as journal.ts counts them (a stretch of steps on functions is one). */
function marksOfReport(report: TransitionReport): number {
  return marksOf(report.steps.map((s): StepSpec => (s.device === undefined ? { kind: 'wait-vfio-group', group: '' } : { kind: 'probe-driver', device: s.device, expect: '' })));
}

interface CycleTimes {
  /** State directory on disk: the real cost. */
  engine: number[];
  /** State directory in memory: the engine's own work, without disk flushes. */
  engineInMemory: number[];
  bare: number[];
  steps: number;
  marks: number;
}

async function cycleBench(runs: number, stateDir: string): Promise<CycleTimes> {
  const host = await memorySimHost('seed');
  const memoryState = fs.existsSync(SHM) ? fs.mkdtempSync(path.join(SHM, 'gpu-hookd-bench-state-')) : undefined;
  try {
    const onDisk = new TransitionEngine({ io: host.io, stateDir });
    const inMemory = memoryState === undefined ? undefined : new TransitionEngine({ io: host.io, stateDir: memoryState });
    let steps = 0;
    let marks = 0;
    const engineCycle = async (engine: TransitionEngine): Promise<void> => {
      const detach = await engine.detach(GPU, { owner: 'bench' });
      const attach = await engine.attach(GPU);
      steps = detach.steps.length + attach.steps.length;
      marks = marksOfReport(detach) + marksOfReport(attach);
      if (!detach.changed || !attach.changed) throw new Error('a benchmark cycle changed nothing: the host did not start on its host drivers');
    };
    const times: CycleTimes = { engine: [], engineInMemory: [], bare: [], steps: 0, marks: 0 };
    for (let i = -3; i < runs; i++) {
      // The first three rounds warm up (JIT, file caches) and are not counted.
      const engine = await timed(() => engineCycle(onDisk));
      const memory = inMemory === undefined ? NaN : await timed(() => engineCycle(inMemory));
      const bare = await timed(() => bareCycle(host.io));
      if (i < 0) continue;
      times.engine.push(engine);
      times.engineInMemory.push(memory);
      times.bare.push(bare);
    }
    return { ...times, steps, marks };
  } finally {
    await host.dispose();
    if (memoryState !== undefined) fs.rmSync(memoryState, { recursive: true, force: true });
  }
}

/** Per-operation medians of the journal's disk work, on the state directory's file system. */
async function journalBench(runs: number, stateDir: string): Promise<{ header: number; append: number; rewrite: number; remove: number }> {
  const plan = Array.from({ length: 13 }, (_, i) => ({ kind: 'wait-vfio-group' as const, group: String(i) }));
  const header = { version: 1 as const, id: 'bench', kind: 'detach' as const, gpu: GPU, owner: 'bench', plan, startedAt: '', bootId: null, createdRecord: true };
  const t = { header: [] as number[], append: [] as number[], rewrite: [] as number[], remove: [] as number[] };
  const rewriteFile = path.join(stateDir, 'rewrite.json');
  for (let i = 0; i < runs; i++) {
    const journal = new Journal(stateDir, header);
    t.header.push(await timed(() => journal.cover(0)));
    t.append.push(await timed(() => journal.cover(1)));
    t.rewrite.push(await timed(() => writeFileAtomic(rewriteFile, `${JSON.stringify({ ...header, inFlight: 1 })}\n`)));
    t.remove.push(await timed(() => journal.remove()));
  }
  return { header: median(t.header), append: median(t.append), rewrite: median(t.rewrite), remove: median(t.remove) };
}

async function planningBench(runs: number): Promise<{ ms: number[]; gpus: number; steps: number }> {
  const host = await memorySimHost('server-8gpu');
  try {
    let gpus = 0;
    let steps = 0;
    const planAll = (): void => {
      const { gpus: found } = discoverGpus(host.io);
      const vfioPciLoaded = isPciDriverRegistered(host.io, VFIO_DRIVER);
      const plans = found.map((gpu) => planDetach(gpu, { vfioPciLoaded, viability: gpuViability(gpu) }));
      gpus = found.length;
      steps = plans.reduce((n, p) => n + p.length, 0);
    };
    planAll();
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) ms.push(await timed(async () => planAll()));
    return { ms, gpus, steps };
  } finally {
    await host.dispose();
  }
}

function parseRuns(argv: string[]): number {
  if (argv.length === 0) return 50;
  if (argv.length === 2 && argv[0] === '--runs' && /^[1-9]\d{0,3}$/.test(argv[1])) return Number(argv[1]);
  throw new Error(`engine-bench: unknown arguments ${JSON.stringify(argv.join(' '))}: use --runs N (1-9999)`);
}

async function main(): Promise<void> {
  const runs = parseRuns(process.argv.slice(2));
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-bench-'));
  try {
    const ms = (v: number): string => `${v.toFixed(2)} ms`.padStart(10);
    const verdict = (v: number, goal: number): string => (v <= goal ? `goal <= ${goal} ms met` : `goal <= ${goal} ms MISSED`);

    const cycle = await cycleBench(runs, stateDir);
    const engine = median(cycle.engine);
    const bare = median(cycle.bare);
    console.log(`engine bench: seed scenario, zero emulator delays, ${runs} runs each (alternating), medians`);
    console.log(`simulated tree in ${fs.existsSync(SHM) ? SHM : os.tmpdir()}, state directory in ${stateDir} (${fsType(stateDir)})`);
    console.log(`detach+attach of the 4-function group`);
    console.log(`  engine (plan, journal, checks, records) ${ms(engine)}   ${verdict(engine, GOAL_CYCLE_MS)}`);
    console.log(`  engine, state directory in memory       ${ms(median(cycle.engineInMemory))}   (its own work, no disk flushes)`);
    console.log(`  baseline (the same 24 writes, bare)     ${ms(bare)}`);
    console.log(`  ratio engine / baseline                 ${(engine / bare).toFixed(2).padStart(7)}`);
    console.log(`  engine overhead over the baseline       ${ms(engine - bare)}`);

    const j = await journalBench(runs, stateDir);
    // Per cycle: two transitions, each a header, appended marks and a removal; the GPU record is
    // saved at detach (like a header) and removed at attach (like a removal).
    const appends = cycle.marks - 2;
    const journalMs = 3 * j.header + appends * j.append + 3 * j.remove;
    const perStepMs = 3 * j.header + (cycle.steps - 2) * j.append + 3 * j.remove;
    const rewriteMs = 3 * j.header + (cycle.steps - 2) * j.rewrite + 3 * j.remove;
    console.log(`journal and record disk work, per operation (measured apart)`);
    console.log(`  header (temp, fdatasync, rename, fsync dir) ${ms(j.header)}`);
    console.log(`  one mark (append, fdatasync)                ${ms(j.append)}`);
    console.log(`  one mark as a whole-file rewrite            ${ms(j.rewrite)}   (not used: same guarantee, dearer)`);
    console.log(`  removal (unlink, fsync dir)                 ${ms(j.remove)}`);
    console.log(`  per cycle: ${cycle.steps} steps, ${cycle.marks} marks (one per group move, one per other step): ${journalMs.toFixed(2)} ms`);
    console.log(`    one appended mark per step instead: ${perStepMs.toFixed(2)} ms; one whole-file rewrite per step: ${rewriteMs.toFixed(2)} ms`);

    const planning = await planningBench(runs);
    const p = median(planning.ms);
    console.log(`planning on server-8gpu (discovery + detach plans of all ${planning.gpus} GPUs, ${planning.steps} steps)`);
    console.log(`  median ${ms(p)}   ${verdict(p, GOAL_PLANNING_MS)}`);
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

const TMPFS_MAGIC = 0x01021994;

function fsType(dir: string): string {
  return fs.statfsSync(dir).type === TMPFS_MAGIC ? 'tmpfs: flushes cost nothing here' : 'on disk';
}

main().catch((e: unknown) => {
  console.error(`engine-bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
