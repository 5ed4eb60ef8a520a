// Benchmark on the real kernel (one lab guest boot): the engine's detach and attach of the GPU-like
// 2-function group against the floor, the same sysfs writes done by a bare shell script, with the
// time of each kernel write. Every timed call starts on a settled guest (test/lab/guest/bench-job.ts).
// Usage: node dist/bench/lab-bench.js [--rounds N] [--boots N] [--json] [--trace]
// --trace times every HostIO call (reads too; the timers cost time of their own) and prints those of the
// last round's detach and attach, with their start and time.
// --boots N boots the guest N times and prints each boot's medians and ratios, then the median ratio of
// the boots: under TCG the same build's engine and floor move by 20-30% from one boot to the next
// (docs/benchmarks.md), so one boot's ratio says little on its own.

import { bootLab, DEFAULT_BOOT_TIMEOUT_MS } from '../test/lab/runner/lab-boot';
import { prepareLabImage } from '../test/lab/runner/lab-image';
import { BENCH_MACHINE } from '../test/lab/lab-scenarios';
import type { BenchTimes } from '../test/lab/lab-job';
import { GUEST_GPU, GUEST_GPU_AUDIO } from '../test/lab/runner/qemu-machine';
import { median } from './bench-stats';

const GOAL_RATIO = 1.25;
const DEFAULT_ROUNDS = 10;

interface Args {
  rounds: number;
  boots: number;
  json: boolean;
  trace: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { rounds: DEFAULT_ROUNDS, boots: 1, json: false, trace: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') args.json = true;
    else if (argv[i] === '--trace') args.trace = true;
    else if (argv[i] === '--rounds' && /^[1-9]\d{0,2}$/.test(argv[i + 1] ?? '')) args.rounds = Number(argv[++i]);
    else if (argv[i] === '--boots' && /^[1-9]\d?$/.test(argv[i + 1] ?? '')) args.boots = Number(argv[++i]);
    else throw new Error(`lab-bench: unknown argument ${JSON.stringify(argv[i])}: use --rounds N (1-999), --boots N (1-99), --json, --trace`);
  }
  return args;
}

/** Engine and floor medians of one boot, by direction; the floor without its hand-off. */
export function bootRatios(times: BenchTimes): Record<'detach' | 'attach', { engine: number; floor: number; ratio: number }> {
  const handoff = median(times.floorHandoff);
  const of = (engine: number[], floor: number[]): { engine: number; floor: number; ratio: number } => {
    const e = median(engine);
    const fl = median(floor) - handoff;
    return { engine: e, floor: fl, ratio: e / fl };
  };
  return { detach: of(times.engineDetach, times.floorDetach), attach: of(times.engineAttach, times.floorAttach) };
}

/** The lines that sum up several boots: each boot's ratios, then per direction the median of them. */
export function acrossBoots(boots: BenchTimes[]): string[] {
  const ratios = boots.map(bootRatios);
  const lines = ratios.map(
    (r, i) =>
      `boot ${String(i + 1).padStart(2)}: detach ${r.detach.engine.toFixed(1)} / ${r.detach.floor.toFixed(1)} ms = ${r.detach.ratio.toFixed(2)}, ` +
      `attach ${r.attach.engine.toFixed(1)} / ${r.attach.floor.toFixed(1)} ms = ${r.attach.ratio.toFixed(2)}`,
  );
  for (const direction of ['detach', 'attach'] as const) {
    const each = ratios.map((r) => r[direction].ratio);
    const met = each.filter((x) => x <= GOAL_RATIO).length;
    lines.push(
      `${direction}: median ratio of ${boots.length} boots ${median(each).toFixed(2)} (${Math.min(...each).toFixed(2)}-${Math.max(...each).toFixed(2)}), ` +
        `goal <= ${GOAL_RATIO} met in ${met} of ${boots.length}`,
    );
  }
  return lines;
}

function report(times: BenchTimes, rounds: number, kernel: string, bootMs: number, trace: boolean): string {
  const f = (ms: number): string => `${ms.toFixed(1)} ms`.padStart(10);
  const lines = [
    `lab bench: kernel ${kernel} under QEMU TCG, ${rounds} rounds in one boot (boot to power-off ${(bootMs / 1000).toFixed(1)} s)`,
    `${''.padEnd(8)}${'engine'.padStart(10)}${'floor'.padStart(10)}${'ratio'.padStart(8)}   (medians; goal ratio <= ${GOAL_RATIO})`,
  ];
  // The floor as timed includes the hand-off that starts and ends it; without it, it is the writes and
  // waits alone, the stricter base for the ratio.
  const handoff = median(times.floorHandoff);
  const ratios = bootRatios(times);
  for (const name of ['detach', 'attach'] as const) {
    const { engine, floor, ratio } = ratios[name];
    lines.push(`${name.padEnd(8)}${f(engine)}${f(floor)}${ratio.toFixed(2).padStart(8)}   ${ratio <= GOAL_RATIO ? 'goal met' : 'goal MISSED'}`);
  }
  lines.push(`floor: floor.sh from its "go" to its "done", less that hand-off timed alone (median ${handoff.toFixed(1)} ms)`);
  lines.push('kernel writes of the engine (median of the rounds):');
  for (const [step, ms] of Object.entries(times.kernelSteps)) lines.push(`  ${f(median(ms))}  ${step}`);
  lines.push('engine steps, each with its write, checks and journal (median of the rounds):');
  for (const [step, ms] of Object.entries(times.engineSteps)) lines.push(`  ${f(median(ms))}  ${step}`);
  for (const direction of ['detach', 'attach'] as const) {
    const before = f(median(times.engineBeforeSteps[direction])).trim();
    const after = f(median(times.engineAfterSteps[direction])).trim();
    lines.push(`engine ${direction} before its first step (discovery, plan, record, journal) ${before}, after its last (removals) ${after}`);
  }
  if (trace) {
    lines.push('(--trace: every HostIO call is timed, which adds its own cost to the engine columns)');
    for (const direction of ['detach', 'attach'] as const) {
      const reads = times.engineReads[direction];
      lines.push(`engine reads (sysfs, proc) per ${direction}: ${median(reads.count)} calls, ${median(reads.ms).toFixed(1)} ms`);
    }
    for (const direction of ['detach', 'attach'] as const) {
      lines.push(`every HostIO call of the last ${direction} (start, time):`);
      for (const c of times.lastRoundCalls[direction]) lines.push(`  ${c.at.toFixed(2).padStart(7)} ${c.ms.toFixed(2).padStart(6)}  ${c.op} ${c.path}`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { rounds, boots, json, trace } = parseArgs(process.argv.slice(2));
  const image = await prepareLabImage();
  const results: { kernel: string; bootMs: number; times: BenchTimes }[] = [];
  for (let i = 0; i < boots; i++) {
    const boot = await bootLab(
      image,
      'bench',
      BENCH_MACHINE,
      { kind: 'bench', settle: { [GUEST_GPU]: 'bochs-drm', [GUEST_GPU_AUDIO]: 'snd_hda_intel' }, gpu: GUEST_GPU, rounds, traceCalls: trace },
      // each round moves the group four times (~0.5 s each under TCG)
      DEFAULT_BOOT_TIMEOUT_MS + rounds * 10_000,
    );
    const times = boot.result.bench;
    if (!times) throw new Error('lab-bench: the guest returned no timings');
    results.push({ kernel: boot.result.kernel, bootMs: boot.wallMs, times });
    if (!json) console.log(report(times, rounds, boot.result.kernel, boot.wallMs, trace), '\n');
  }
  if (json) console.log(JSON.stringify(results.map(({ kernel, bootMs, times }) => ({ kernel, bootMs, ...times })), null, 1));
  else if (boots > 1) console.log(acrossBoots(results.map((r) => r.times)).join('\n'));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
