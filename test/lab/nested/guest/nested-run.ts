// The nested scenario inside the lab guest, on the real kernel: the project's engine gives the
// GPU-like card to a VM of the guest's own (a nested QEMU from the 9p sysroot), takes it back, and
// the kernel's view of viability is compared with the sysfs rule at every binding on the way.
// Ordering matters wherever a device's unbind may be pending in the kernel: its driver_override
// cannot be read then (the read waits for the device lock), so no snapshot is taken until it ends.

import * as fs from 'node:fs';
import { TransitionEngine } from '../../../../src/engine/transition-engine';
import { waitUntil } from '../../../../src/engine/wait-until';
import { vfioGroupHolders } from '../../../../src/host/file-holders';
import { findGpuForAddress } from '../../../../src/host/gpu-inventory';
import type { HostIO } from '../../../../src/host/host-io';
import { groupReadiness } from '../../../../src/host/kernel-viability';
import { readIommuGroupOf } from '../../../../src/host/pci-discovery';
import { VFIO_DRIVER } from '../../../../src/host/pci-device';
import { currentViability } from '../../../../src/host/viability';
import type { VfioGroupStatus } from '../../../../src/host/vfio-group-status';
import { snapshotHost } from '../../../../src/sim/snapshot';
import { TappedHostIO } from '../../guest/tapped-host-io';
import { settledSnapshot, waitForDrivers } from '../../guest/transition-job';
import type { CliOutcome } from '../../lab-job';
import { runBounded, runChecked, startBounded, type StartedCommand } from '../../runner/command';
import type { EngineCall, NestedJob, NestedQemuRun, NestedResult, ReleaseOrdering, ViabilityCheck, WorkloadReport } from '../nested-job';
import { NESTED_MOUNT_POINTS, NESTED_QEMU, NESTED_WORKLOAD } from '../nested-sysroot';

export interface NestedContext {
  io: HostIO;
  stateDir: string;
  /** Runs gpu-hookctl with these arguments. */
  cli: (args: string[]) => Promise<CliOutcome>;
}

const SYSROOT = '/mnt/nested';
const HOLD_TIMEOUT_MS = 60_000;
const UNBIND_FINISH_TIMEOUT_MS = 30_000;
const WORKLOAD_START = 'WORKLOAD-START';
/** How an fd on a vfio device (from VFIO_GROUP_GET_DEVICE_FD) reads under /proc/<pid>/fd. */
const VFIO_DEVICE_FD = 'anon_inode:[vfio-device]';
const POLL_MS = 20;
const WORKLOAD_RESULT = 'WORKLOAD-RESULT ';

/** The nested machine: q35 under TCG with both functions of the card as vfio-pci devices. */
export function nestedQemuArgs(job: Pick<NestedJob, 'gpu' | 'audio'>): string[] {
  return [
    '-machine', 'q35', '-accel', 'tcg', '-m', '64', '-display', 'none', '-nodefaults', '-no-reboot',
    '-device', `vfio-pci,host=${job.gpu}`, '-device', `vfio-pci,host=${job.audio}`,
  ];
}

/** The workload's run: serial on stdout, exit through isa-debug-exit. */
export function workloadArgs(job: Pick<NestedJob, 'gpu' | 'audio'>): string[] {
  return [...nestedQemuArgs(job), '-serial', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4', '-kernel', NESTED_WORKLOAD];
}

/** A VM that holds the group and does nothing: stopped before its first instruction (-S). */
export function holderArgs(job: Pick<NestedJob, 'gpu' | 'audio'>): string[] {
  return [...nestedQemuArgs(job), '-S'];
}

export async function runNestedJob(job: NestedJob, ctx: NestedContext): Promise<NestedResult> {
  const { io } = ctx;
  const snap = { io, stateDir: ctx.stateDir, snapshot: snapshotHost };
  await waitForDrivers(io, job.settle);
  const group = readIommuGroupOf(io, job.gpu);
  if (group === null) throw new Error(`the lab GPU ${job.gpu} is in no IOMMU group: the guest booted without intel_iommu=on`);
  const baseline = await settledSnapshot(snap);
  await mountSysroot(job.sysrootTag);
  try {
    const write = (rel: string, value: string): Promise<void> => io.write(rel, value, { timeoutMs: job.writeTimeoutMs });
    const viability: ViabilityCheck[] = [];

    // The group half on vfio-pci: the display function moved, the audio function still on its host driver.
    await write(`sys/bus/pci/devices/${job.gpu}/driver_override`, VFIO_DRIVER);
    await write(`sys/bus/pci/devices/${job.gpu}/driver/unbind`, job.gpu);
    await write('sys/bus/pci/drivers_probe', job.gpu);
    await waitForDrivers(io, { [job.gpu]: VFIO_DRIVER, [job.audio]: job.settle[job.audio] });
    viability.push(checkViability(io, job.gpu, 'display function on vfio-pci, audio function on its host driver'));
    const listWhileShared = await ctx.cli(['list', '--json']);

    // The audio function with no driver at all: an unbind is not followed by a probe.
    await write(`sys/bus/pci/devices/${job.audio}/driver/unbind`, job.audio);
    await waitForDrivers(io, { [job.gpu]: VFIO_DRIVER, [job.audio]: null });
    viability.push(checkViability(io, job.gpu, 'display function on vfio-pci, audio function with no driver'));

    // Back to the host drivers, by hand as it was moved, so that the engine starts from the booted host.
    await write('sys/bus/pci/drivers_probe', job.audio);
    await write(`sys/bus/pci/devices/${job.gpu}/driver_override`, '\n');
    await write(`sys/bus/pci/drivers/${VFIO_DRIVER}/unbind`, job.gpu);
    await write('sys/bus/pci/drivers_probe', job.gpu);
    await waitForDrivers(io, job.settle);
    const afterProbes = await settledSnapshot(snap);

    const engine = (): { engine: TransitionEngine; tap: TappedHostIO } => {
      const tap = new TappedHostIO(io);
      return { engine: new TransitionEngine({ io: tap, stateDir: ctx.stateDir, timeouts: { writeMs: job.writeTimeoutMs } }), tap };
    };
    const detach = await engineCall('detach', job.gpu, engine());
    const afterDetach = await settledSnapshot(snap);
    viability.push(checkViability(io, job.gpu, 'both functions on vfio-pci (gpu-hookd detach)'));

    const workload = await runWorkload(job, io, group);
    const release = await releaseWhileHeld(job, group, ctx, engine);
    const afterAttach = await settledSnapshot(snap);
    return { baseline, viability, listWhileShared, afterProbes, detach, afterDetach, workload, release, afterAttach };
  } finally {
    await unmountSysroot();
  }
}

function checkViability(io: HostIO, gpu: string, state: string): ViabilityCheck {
  const { group } = findGpuForAddress(io, gpu);
  return {
    state,
    drivers: Object.fromEntries(group.members.map((m) => [m.address, m.driver])),
    kernel: kernelStatus(io, group.id),
    sysfs: currentViability(group),
    readiness: groupReadiness(io, group),
  };
}

function kernelStatus(io: HostIO, group: string): VfioGroupStatus {
  return io.vfioGroupStatus?.(group) ?? { answer: 'unavailable', why: 'this HostIO cannot ask the kernel' };
}

async function engineCall(kind: 'detach' | 'attach', gpu: string, { engine, tap }: { engine: TransitionEngine; tap: TappedHostIO }): Promise<EngineCall> {
  const started = performance.now();
  try {
    const report = await (kind === 'detach' ? engine.detach(gpu) : engine.attach(gpu));
    return { ok: true, ms: performance.now() - started, changed: report.changed, writes: tap.writes.length };
  } catch (e) {
    const err = e as Error & { code?: unknown };
    const code = typeof err.code === 'string' ? err.code : err.name;
    return { ok: false, ms: performance.now() - started, error: { code, message: err.message }, writes: tap.writes.length };
  }
}

function nestedQemu(args: string[], job: NestedJob, onStdout?: (chunk: Buffer) => void): StartedCommand {
  return startBounded('chroot', [SYSROOT, NESTED_QEMU, ...args], { timeoutMs: job.nestedTimeoutMs, onStdout });
}

async function runWorkload(job: NestedJob, io: HostIO, group: string): Promise<NestedQemuRun> {
  const args = workloadArgs(job);
  const started = performance.now();
  let serial = '';
  let startMs: number | undefined;
  let groupOpenedMs: number | undefined;
  let devicesOpenedMs: number | undefined;
  const run = nestedQemu(args, job, (chunk) => {
    serial += chunk.toString('utf8');
    if (startMs === undefined && serial.includes(WORKLOAD_START)) startMs = performance.now() - started;
  });
  const watch = setInterval(() => {
    if (run.pid === undefined) return;
    if (groupOpenedMs === undefined && vfioGroupHolders(io, group).some((h) => h.pid === run.pid)) groupOpenedMs = performance.now() - started;
    if (devicesOpenedMs === undefined && vfioDeviceFds(io, run.pid) >= 2) devicesOpenedMs = performance.now() - started;
  }, POLL_MS);
  const r = await run.result.finally(() => clearInterval(watch));
  const line = r.stdout.split('\n').find((l) => l.startsWith(WORKLOAD_RESULT));
  return {
    args,
    exitCode: r.code,
    signal: r.signal,
    timedOut: r.timedOut,
    stderr: r.stderr,
    serial: r.stdout,
    workload: line === undefined ? undefined : (JSON.parse(line.slice(WORKLOAD_RESULT.length)) as WorkloadReport),
    groupOpenedMs,
    devicesOpenedMs,
    startMs,
    totalMs: r.wallMs,
  };
}

/**
 * Attach while a VM holds the group: the engine must refuse before any change. Then the unbind it
 * refused is issued by hand, to show why: it blocks in the kernel (HostIO's bounded write gives up,
 * the event loop runs on) and finishes only once the VM has exited. The engine's retry then succeeds.
 */
async function releaseWhileHeld(
  job: NestedJob,
  group: string,
  ctx: NestedContext,
  engine: () => { engine: TransitionEngine; tap: TappedHostIO },
): Promise<ReleaseOrdering> {
  const { io } = ctx;
  const started = performance.now();
  const holder = nestedQemu(holderArgs(job), job);
  let exited = false;
  void holder.result.then(() => (exited = true), () => (exited = true));
  try {
    // Held once both devices are realized: QEMU opens the group with the first, the second's fd follows.
    const held = await waitUntil(() => exited || (holder.pid !== undefined && vfioDeviceFds(io, holder.pid) >= 2), HOLD_TIMEOUT_MS);
    if (!held || exited) {
      const r = exited ? await holder.result : undefined;
      throw new Error(`the nested QEMU never held /dev/vfio/${group}${r ? ` (it exited with ${r.code ?? r.signal}: ${r.stderr.trim()})` : ''}`);
    }
    const heldAfterMs = performance.now() - started;
    const holders = vfioGroupHolders(io, group);
    const kernelWhileHeld = kernelStatus(io, group);
    const attachWhileHeld = await engineCall('attach', job.gpu, engine());
    const whileHeld = snapshotHost(io);

    const blockedUnbind = await unbindWhileHeld(io, job, group);

    const killedAt = performance.now();
    if (holder.pid !== undefined) process.kill(holder.pid, 'SIGTERM');
    const end = await holder.result;
    const holderExit = { exitCode: end.code, signal: end.signal, stderr: end.stderr, ms: performance.now() - killedAt };
    // The attribute read waits for the device lock that the pending unbind holds: it answers when the unbind ends.
    const finish = await runBounded('cat', [`/sys/bus/pci/devices/${job.audio}/driver_override`], { timeoutMs: UNBIND_FINISH_TIMEOUT_MS });
    if (finish.timedOut) throw new Error(`the unbind of ${job.audio} did not finish within ${UNBIND_FINISH_TIMEOUT_MS} ms of the VM's exit`);
    const unbindFinishedMs = performance.now() - killedAt;
    const afterHolderExit = await settledSnapshot({ io, stateDir: ctx.stateDir, snapshot: snapshotHost });
    const retry = await engineCall('attach', job.gpu, engine());
    return {
      holder: { pid: holder.pid, heldAfterMs, holders },
      kernelWhileHeld,
      attachWhileHeld,
      whileHeld,
      blockedUnbind,
      holderExit,
      unbindFinishedMs,
      afterHolderExit,
      retry,
    };
  } finally {
    if (!exited && holder.pid !== undefined) process.kill(holder.pid, 'SIGKILL');
  }
}

/** How many vfio device fds the process holds (one per assigned function once QEMU realized it). */
function vfioDeviceFds(io: HostIO, pid: number): number {
  return io.list(`proc/${pid}/fd`).filter((fd) => io.readLink(`proc/${pid}/fd/${fd}`) === VFIO_DEVICE_FD).length;
}

async function unbindWhileHeld(io: HostIO, job: NestedJob, group: string): Promise<ReleaseOrdering['blockedUnbind']> {
  let loopTicks = 0;
  const ticker = setInterval(() => loopTicks++, 50);
  const started = performance.now();
  let error: { name: string; message: string } | undefined;
  try {
    await io.write(`sys/bus/pci/drivers/${VFIO_DRIVER}/unbind`, job.audio, { timeoutMs: job.writeTimeoutMs });
  } catch (e) {
    error = { name: (e as Error).name, message: (e as Error).message };
  } finally {
    clearInterval(ticker);
  }
  return {
    device: job.audio,
    error,
    ms: performance.now() - started,
    loopTicks,
    driverLinkDuring: io.readLinkName(`sys/bus/pci/devices/${job.audio}/driver`) ?? null,
    holders: vfioGroupHolders(io, group),
  };
}

async function mountSysroot(tag: string): Promise<void> {
  fs.mkdirSync(SYSROOT, { recursive: true });
  await runChecked('mount', ['-t', '9p', '-o', 'trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro', tag, SYSROOT], { timeoutMs: 30_000 });
  for (const dir of NESTED_MOUNT_POINTS) {
    const args = dir === 'tmp' ? ['-t', 'tmpfs', 'tmpfs'] : ['--bind', `/${dir}`];
    await runChecked('mount', [...args, `${SYSROOT}/${dir}`], { timeoutMs: 30_000 });
  }
}

async function unmountSysroot(): Promise<void> {
  for (const dir of [...NESTED_MOUNT_POINTS].reverse()) await runBounded('umount', [`${SYSROOT}/${dir}`], { timeoutMs: 30_000 });
  await runBounded('umount', [SYSROOT], { timeoutMs: 30_000 });
}
