// The libvirt-in-guest target inside the lab guest, on the real kernel: a dbus-daemon, gpu-hookd,
// virtlogd and libvirtd run chrooted into the libvirt sysroot (libvirt-sysroot.ts), our hook is in
// place before libvirtd starts, and a domain with both functions of the card as <hostdev
// managed='no'> goes through `virsh start` (prepare: gpu-hookd binds vfio-pci, libvirt's QEMU takes
// the devices, the workload drives them) and `virsh destroy` (release: the host drivers come back).
// The guest runs no systemd: a stand-in for it (src/sim/desktop) answers gpu-hookd on the bus, with
// no display manager installed, as on a console-only host.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostIO } from '../../../../src/host/host-io';
import { startSystemdStandin, type SystemdStandin } from '../../../../src/sim/desktop/systemd-standin';
import { snapshotHost } from '../../../../src/sim/snapshot';
import { settledSnapshot, waitForDrivers } from '../../guest/transition-job';
import type { WorkloadReport } from '../../nested/nested-job';
import { LIBVIRT_BIND_DIRS, LIBVIRT_BUS_CONFIG, LIBVIRT_BUS_SOCKET, LIBVIRT_ETC_TEMPLATE, LIBVIRT_PROJECT, LIBVIRT_TMPFS_DIRS } from '../../nested/libvirt-sysroot';
import { NESTED_WORKLOAD } from '../../nested/nested-sysroot';
import { runBounded, runChecked, startBounded, type CommandResult, type StartedCommand } from '../../runner/command';
import type { LibvirtJob, LibvirtResult, VirshCall } from '../libvirt-job';
import { labDomainXml } from '../lab-domain';

export interface LibvirtContext {
  io: HostIO;
  stateDir: string;
  /** The project as shared into the guest. */
  projectDir: string;
}

const ROOT = '/mnt/libvirt';
const DOMAIN = 'lab-vm';
const SERIAL_LOG = '/var/log/lab-vm.serial';
const WORKLOAD_RESULT = 'WORKLOAD-RESULT ';
/** Daemons run until the agent ends them; this only bounds one left behind. */
const DAEMON_BOUND_MS = 30 * 60_000;
const POLL_MS = 100;
/** One `virsh version` while libvirtd starts: a call it cannot answer yet must not eat the whole step. */
const VIRSH_POLL_MS = 15_000;
const BUS_ADDRESS = `unix:path=${LIBVIRT_BUS_SOCKET}`;
const CHROOT_ENV = { PATH: '/usr/sbin:/usr/bin', HOME: '/tmp', LC_ALL: 'C', TMPDIR: '/tmp' };
const DIRS = ['var/lib/libvirt/qemu', 'var/cache/libvirt/qemu', 'var/log/libvirt/qemu', 'var/lib/gpu-hookd', 'run/libvirt', 'run/gpu-hookd-lab'];

/** The domain: the lab's nested VM with both functions as <hostdev managed='no'>. */
export function domainXml(job: Pick<LibvirtJob, 'gpu' | 'audio'>): string {
  return labDomainXml({ name: DOMAIN, kernel: NESTED_WORKLOAD, serialLog: SERIAL_LOG, hostdevs: [job.gpu, job.audio], managed: 'no' });
}

export async function runLibvirtJob(job: LibvirtJob, ctx: LibvirtContext): Promise<LibvirtResult> {
  const logs: Record<string, string> = {};
  try {
    return await runWithDaemons(job, ctx, logs);
  } catch (e) {
    // The daemons' own words, gathered as they were ended, say why a step failed.
    const told = Object.entries(logs).map(([name, text]) => `--- ${name}:\n${text}`).join('\n');
    throw new Error(`${(e as Error).message}\n${told}`);
  }
}

async function runWithDaemons(job: LibvirtJob, ctx: LibvirtContext, logs: Record<string, string>): Promise<LibvirtResult> {
  const { io } = ctx;
  const snap = { io, stateDir: ctx.stateDir, snapshot: snapshotHost };
  await waitForDrivers(io, job.settle);
  const baseline = await settledSnapshot(snap);
  await mountRoot(job.sysrootTag, ctx.projectDir);
  const daemons: { name: string; run: StartedCommand }[] = [];
  let standin: SystemdStandin | undefined;
  try {
    const readyMs = {} as LibvirtResult['readyMs'];
    const start = async (name: keyof LibvirtResult['readyMs'], args: string[], ready: () => Promise<boolean> | boolean, env: Record<string, string> = {}): Promise<void> => {
      const started = performance.now();
      const run = startBounded('chroot', [ROOT, ...args], { timeoutMs: DAEMON_BOUND_MS, env: { ...CHROOT_ENV, ...env } });
      daemons.push({ name, run });
      let ended: CommandResult | undefined;
      void run.result.then((r) => (ended = r));
      const ok = await pollUntil(async () => ended !== undefined || (await ready()), job.stepTimeoutMs);
      if (ended !== undefined) throw new Error(`${name} exited with ${ended.code ?? ended.signal} at start: ${(ended.stderr || ended.stdout).trim()}`);
      if (!ok) throw new Error(`${name} was not ready within ${job.stepTimeoutMs} ms`);
      readyMs[name] = performance.now() - started;
    };

    await start('dbusDaemon', ['/usr/bin/dbus-daemon', `--config-file=${LIBVIRT_BUS_CONFIG}`, '--nofork'], () => fs.existsSync(ROOT + LIBVIRT_BUS_SOCKET));
    // systemd's stand-in runs outside the chroot, where the bus socket is under ROOT.
    standin = await startSystemdStandin({ address: `unix:path=${ROOT}${LIBVIRT_BUS_SOCKET}`, addPolicy: async () => undefined });
    await start('virtlogd', ['/usr/sbin/virtlogd'], () => fs.existsSync(`${ROOT}/run/libvirt/virtlogd-sock`));
    const libvirtdAnswers = async (): Promise<boolean> => {
      const r = await virsh(['version'], VIRSH_POLL_MS);
      // The last refusal ("Failed to connect socket to ...") is what a libvirtd never ready is about.
      logs.virshVersion = `exit ${r.exitCode}: ${r.stderr.trim()}`;
      return r.exitCode === 0;
    };
    await start('libvirtd', ['/usr/sbin/libvirtd'], libvirtdAnswers, {
      LIBVIRT_LOG_OUTPUTS: '1:file:/var/log/libvirt/libvirtd.log',
      LIBVIRT_LOG_FILTERS: '1:util.hook 1:qemu 1:util.command 1:rpc.virnetserver 3:*',
    });

    fs.writeFileSync(`${ROOT}/tmp/${DOMAIN}.xml`, domainXml(job));
    const define = await virsh(['define', `/tmp/${DOMAIN}.xml`], job.stepTimeoutMs);
    const result: LibvirtResult = { baseline, readyMs, define, serial: '', logs };
    if (define.exitCode !== 0) return result;
    // Before gpu-hookd runs: the hook must fail closed for a domain that asks for the GPU.
    result.startWithoutDaemon = await virsh(['start', DOMAIN], job.stepTimeoutMs);
    result.withoutDaemon = await settledSnapshot(snap);
    if (result.startWithoutDaemon.exitCode === 0) return result;

    await start('gpuHookd', ['/usr/bin/node', `${LIBVIRT_PROJECT}/dist/src/daemon/main.js`], async () => hasOwner('org.gpuhookd1'), {
      GPU_HOOKD_BUS: BUS_ADDRESS,
      GPU_HOOKD_ROOT: '/',
      GPU_HOOKD_STATE_DIR: '/var/lib/gpu-hookd',
    });
    result.start = await virsh(['start', DOMAIN], job.stepTimeoutMs);
    if (result.start.exitCode !== 0) return result;

    const startedAt = performance.now();
    const serial = (): string => readOr(ROOT + SERIAL_LOG);
    await pollUntil(() => resultLine(serial()) !== undefined, job.stepTimeoutMs);
    result.serial = serial();
    const line = resultLine(result.serial);
    if (line !== undefined) {
      result.workloadMs = performance.now() - startedAt;
      result.workload = JSON.parse(line.slice(WORKLOAD_RESULT.length)) as WorkloadReport;
    }
    result.whileRunning = snapshotHost(io);
    result.destroy = await virsh(['destroy', DOMAIN], job.stepTimeoutMs);
    await waitForDrivers(io, job.settle);
    result.afterRelease = await settledSnapshot(snap);
    return result;
  } finally {
    logs.processes = processReport();
    await standin?.stop().catch(() => undefined);
    // libvirtd first (it may still call the hook), then the others in reverse, the bus last.
    const order = [...daemons.filter((d) => d.name === 'libvirtd'), ...daemons.filter((d) => d.name !== 'libvirtd').reverse()];
    for (const { name, run } of order) {
      signal(run.pid, 'SIGTERM');
      const r = await run.result;
      logs[name] = tail(`${r.stdout}\n${r.stderr}`);
    }
    logs.libvirtdLog = tail(readOr(`${ROOT}/var/log/libvirt/libvirtd.log`), 120);
    logs.qemuLog = tail(readOr(`${ROOT}/var/log/libvirt/qemu/${DOMAIN}.log`));
    await unmountRoot();
  }
}

/** The workload's result line once it is whole: the serial file grows while the nested guest prints it. */
function resultLine(serial: string): string | undefined {
  const start = serial.indexOf(WORKLOAD_RESULT);
  const end = start < 0 ? -1 : serial.indexOf('\n', start);
  return end < 0 ? undefined : serial.slice(start, end).trimEnd();
}

/** Polls `condition` every POLL_MS until it holds (true) or timeoutMs pass (false). */
async function pollUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function virsh(args: string[], timeoutMs: number): Promise<VirshCall> {
  const started = performance.now();
  const r = await runBounded('chroot', [ROOT, '/usr/bin/virsh', '-c', 'qemu:///system', ...args], { timeoutMs, env: CHROOT_ENV });
  return { args, exitCode: r.timedOut ? null : r.code, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - started };
}

async function hasOwner(name: string): Promise<boolean> {
  const r = await runBounded(
    'chroot',
    [ROOT, '/usr/bin/dbus-send', `--bus=${BUS_ADDRESS}`, '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', `string:${name}`],
    { timeoutMs: 10_000, env: CHROOT_ENV },
  );
  return r.code === 0 && r.stdout.includes('boolean true');
}

async function mountRoot(tag: string, projectDir: string): Promise<void> {
  const mount = (args: string[]): Promise<string> => runChecked('mount', args, { timeoutMs: 30_000 });
  fs.mkdirSync(ROOT, { recursive: true });
  await mount(['-t', '9p', '-o', 'trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro', tag, ROOT]);
  for (const dir of LIBVIRT_TMPFS_DIRS) await mount(['-t', 'tmpfs', 'tmpfs', `${ROOT}/${dir}`]);
  for (const dir of LIBVIRT_BIND_DIRS) await mount(['--bind', `/${dir}`, `${ROOT}/${dir}`]);
  await mount(['--bind', projectDir, ROOT + LIBVIRT_PROJECT]);
  fs.cpSync(ROOT + LIBVIRT_ETC_TEMPLATE, `${ROOT}/etc`, { recursive: true });
  for (const dir of DIRS) fs.mkdirSync(path.join(ROOT, dir), { recursive: true });
  // libvirt's client looks for the daemon's socket under /var/run, Debian's link to /run.
  fs.symlinkSync('../run', `${ROOT}/var/run`);
  // No /dev/fd (devtmpfs has none; udev makes it on a host), on purpose: the hook must fail closed
  // without it (its check once read the hostdevs through process substitution and failed open here).
  if (fs.existsSync('/dev/fd')) throw new Error('the lab guest has /dev/fd: the fail-closed step would not show that hooks/qemu works without it');
}

async function unmountRoot(): Promise<void> {
  const points = [LIBVIRT_PROJECT.slice(1), ...LIBVIRT_BIND_DIRS, ...LIBVIRT_TMPFS_DIRS].reverse();
  for (const dir of points) await runBounded('umount', [`${ROOT}/${dir}`], { timeoutMs: 30_000 });
  await runBounded('umount', [ROOT], { timeoutMs: 30_000 });
}

/**
 * Every user process of the guest from /proc (busybox ps shows too little): its command line, and per
 * thread its name, state, kernel wait channel and kernel stack, then its open files. What a daemon
 * that does not answer is waiting in.
 */
function processReport(): string {
  const out: string[] = [];
  const read = (file: string): string => readOr(file).trim();
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const cmdline = read(`/proc/${pid}/cmdline`).replace(/\0/g, ' ');
    if (cmdline === '') continue;
    out.push(`pid ${pid}: ${cmdline}`);
    for (const tid of readdirOr(`/proc/${pid}/task`)) {
      const task = `/proc/${pid}/task/${tid}`;
      const state = read(`${task}/stat`).replace(/^.*\) /, '').split(' ')[0];
      const stack = read(`${task}/stack`).split('\n').map((l) => l.replace(/^\[<0>\] /, '')).join(' < ');
      out.push(`  task ${tid} ${read(`${task}/comm`)} ${state} wchan=${read(`${task}/wchan`)} stack: ${stack}`);
    }
    const fds = readdirOr(`/proc/${pid}/fd`).map((fd) => `${fd}=${linkOr(`/proc/${pid}/fd/${fd}`)}`);
    out.push(`  fds: ${fds.join(' ')}`);
  }
  return out.join('\n');
}

function readdirOr(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function linkOr(file: string): string {
  try {
    return fs.readlinkSync(file);
  } catch {
    return '?';
  }
}

/** A daemon that already exited (its failure is what the job reports) is no error here. */
function signal(pid: number | undefined, name: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
