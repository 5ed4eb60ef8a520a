// Benchmark of the nested passthrough scenario on the real kernel: per boot of the proof scenario,
// boot to power-off, the nested QEMU's start (process to group open, to both devices realized, to
// the workload's first serial line) and the engine's detach and attach, all measured in that boot.
// Usage: node dist/bench/nested-bench.js [--boots N] [--json]

import type { NestedResult } from '../test/lab/nested/nested-job';
import { bootNested } from '../test/lab/nested/nested-scenario';
import { median } from './bench-stats';

const DEFAULT_BOOTS = 3;

export interface NestedTimes {
  bootToPowerOffMs: number;
  /** Nested QEMU, from spawn: /dev/vfio/<group> opened, both vfio device fds, first serial line, exit. */
  qemuGroupOpenMs: number;
  qemuDevicesOpenMs: number;
  qemuWorkloadStartMs: number;
  qemuExitMs: number;
  engineDetachMs: number;
  engineAttachMs: number;
  /** The refused attach while the VM holds the group: the holder scan and the kernel's EBUSY. */
  refusedAttachMs: number;
  /** From the VM's SIGTERM until the kernel finished the unbind that was waiting for it. */
  unbindAfterExitMs: number;
}

/** The times of one boot, or why they are missing. */
export function timesOf(result: NestedResult, bootMs: number): NestedTimes {
  const { workload, detach, release } = result;
  const need = (what: string, v: number | undefined): number => {
    if (v === undefined) throw new Error(`nested-bench: the boot measured no ${what}`);
    return v;
  };
  if (!detach.ok || !release.retry.ok) throw new Error('nested-bench: the engine failed in the guest; run the lab test for its message');
  return {
    bootToPowerOffMs: bootMs,
    qemuGroupOpenMs: need('group open time', workload.groupOpenedMs),
    qemuDevicesOpenMs: need('device open time', workload.devicesOpenedMs),
    qemuWorkloadStartMs: need('workload start time', workload.startMs),
    qemuExitMs: workload.totalMs,
    engineDetachMs: detach.ms,
    engineAttachMs: release.retry.ms,
    refusedAttachMs: release.attachWhileHeld.ms,
    unbindAfterExitMs: release.unbindFinishedMs,
  };
}

const LABELS: Record<keyof NestedTimes, string> = {
  bootToPowerOffMs: 'boot to power-off of the proof scenario',
  qemuGroupOpenMs: 'nested QEMU: spawn to /dev/vfio/<group> open',
  qemuDevicesOpenMs: 'nested QEMU: spawn to both functions realized',
  qemuWorkloadStartMs: 'nested QEMU: spawn to the workload running',
  qemuExitMs: 'nested QEMU: spawn to exit (workload done)',
  engineDetachMs: 'engine detach (both functions to vfio-pci)',
  engineAttachMs: 'engine attach (back to bochs-drm, snd_hda_intel)',
  refusedAttachMs: 'engine attach refused while the VM holds the group',
  unbindAfterExitMs: 'pending unbind finished after the VM exited',
};

export function report(runs: NestedTimes[], kernel: string): string {
  const lines = [`nested bench: kernel ${kernel} under QEMU TCG, nested QEMU TCG, ${runs.length} boot(s); median (min-max)`];
  for (const key of Object.keys(LABELS) as (keyof NestedTimes)[]) {
    const values = runs.map((r) => r[key]);
    const span = runs.length > 1 ? `  (${fmt(Math.min(...values))}-${fmt(Math.max(...values))})` : '';
    lines.push(`${fmt(median(values)).padStart(10)}  ${LABELS[key]}${span}`);
  }
  return lines.join('\n');
}

function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

function parseArgs(argv: string[]): { boots: number; json: boolean } {
  let boots = DEFAULT_BOOTS;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') json = true;
    else if (argv[i] === '--boots' && /^[1-9]\d?$/.test(argv[i + 1] ?? '')) boots = Number(argv[++i]);
    else throw new Error(`nested-bench: unknown argument ${JSON.stringify(argv[i])}: use --boots N (1-99) and/or --json`);
  }
  return { boots, json };
}

async function main(): Promise<void> {
  const { boots, json } = parseArgs(process.argv.slice(2));
  const runs: NestedTimes[] = [];
  let kernel = '';
  for (let i = 0; i < boots; i++) {
    const boot = await bootNested();
    if (!boot.result.nested) throw new Error('nested-bench: the guest returned no nested result');
    kernel = boot.result.kernel;
    runs.push(timesOf(boot.result.nested, boot.wallMs));
  }
  console.log(json ? JSON.stringify({ kernel, runs }, null, 1) : report(runs, kernel));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
