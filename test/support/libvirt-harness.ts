// A real libvirtd (qemu:///system) for e2e tests, started and torn down by the test. libvirtd finds
// hooks only when it starts, so hook files are installed first; qemu.conf gets user/group root (here
// /dev/kvm is root-only, and without it every API call re-probes QEMU), and the original file is put
// back at stop. Everything the harness changes is written down in a state file under /run before it
// is changed, so a later run can undo what a killed run left behind. A libvirtd the harness did not
// start is never touched: the harness refuses to run beside it.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertDomainSafe } from './safe-domain';
import { findPidsByName, isRunning, processName, readFileOrUndefined, runCommand, signalPid, spawnTracked, stopPid, waitFor, waitForPidFile, type CommandResult } from './processes';

export const LIBVIRT_URI = 'qemu:///system';
export const HOOKS_DIR = '/etc/libvirt/hooks/qemu.d';
export const QEMU_CONF = '/etc/libvirt/qemu.conf';
const NETWORK_AUTOSTART_DIR = '/etc/libvirt/qemu/networks/autostart';
const DOMAIN_CONFIG_DIR = '/etc/libvirt/qemu';
const DOMAIN_RUN_DIR = '/run/libvirt/qemu';
export const HARNESS_STATE_DIR = '/run/gpu-hookd-test';
export const HARNESS_STATE_FILE = path.join(HARNESS_STATE_DIR, 'libvirt-harness.json');
const QEMU_CONF_BACKUP = path.join(HARNESS_STATE_DIR, 'qemu.conf.orig');
/** /proc/PID/comm of QEMU (truncated to 15 characters by the kernel). */
const QEMU_COMM = 'qemu-system-x86';

/** A hook script for /etc/libvirt/hooks/qemu.d/: its text, or a file to copy. */
export type HookFile = { name: string; content: string } | { name: string; srcPath: string };

export interface LibvirtOptions {
  hooks?: HookFile[];
  /** How long to wait for another test run that holds the harness to finish (default 60 s). */
  waitForOtherRunMs?: number;
}

export interface Libvirt {
  /** Holds the daemons' logs and the defined domains' XML; removed at stop. */
  readonly workDir: string;
  readonly libvirtdPid: number;
  readonly virtlogdPid: number;
  /** Runs virsh against qemu:///system. Subcommands that would bypass the safety check are refused. */
  virsh(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<CommandResult>;
  /** Checks the XML with assertDomainSafe, then defines it; stop() destroys and undefines it. */
  defineDomain(xml: string): Promise<string>;
  /** The running QEMU's PID for a domain, or undefined. */
  domainPid(name: string): number | undefined;
  /** libvirtd's log so far (hook calls included), for printing when a test fails. */
  libvirtdLog(): string;
  /** Stops and starts libvirtd only (running domains stay up and are reconnected). */
  restart(): Promise<void>;
  /** Destroys and undefines our domains, ends both daemons by PID, removes our hooks, restores qemu.conf. */
  stop(): Promise<void>;
}

interface HarnessState {
  ownerPid: number;
  workDir: string;
  virtlogdPid?: number;
  libvirtdPid?: number;
  /** Hook files we created (absolute paths). */
  hooks: string[];
  createdHooksDir: boolean;
  qemuConfChanged: boolean;
  domains: string[];
}

/** qemu.conf with QEMU run as root:root, or undefined when it already says so. */
export function qemuConfWithRootUser(conf: string): string | undefined {
  const active = (key: string): string[] => conf.split('\n').filter((l) => new RegExp(`^\\s*${key}\\s*=`).test(l));
  const isRoot = (lines: string[]): boolean => lines.length === 1 && /=\s*"root"\s*$/.test(lines[0]);
  if (isRoot(active('user')) && isRoot(active('group'))) return undefined;
  const commented = conf
    .split('\n')
    .map((l) => (/^\s*(user|group)\s*=/.test(l) ? `# ${l}` : l))
    .join('\n');
  return `${commented.replace(/\n*$/, '\n')}\n# gpu-hookd e2e harness: QEMU as root (/dev/kvm is root-only here)\nuser = "root"\ngroup = "root"\n`;
}

/** Subcommands that would bring a device or domain past assertDomainSafe. */
const REFUSED_SUBCOMMANDS = ['define', 'create', 'edit', 'attach-device', 'update-device', 'attach-interface', 'attach-disk'];

export function checkVirshArgs(args: string[]): void {
  const sub = args[0] ?? '';
  if (!/^[a-z][a-z-]*$/.test(sub)) {
    throw new Error(`virsh arguments must start with a subcommand such as "list" (got ${JSON.stringify(sub)}): one argument with spaces or ';' would be parsed as several commands`);
  }
  if (REFUSED_SUBCOMMANDS.includes(sub) || sub.startsWith('nodedev-')) {
    throw new Error(`virsh ${sub} is refused by the test harness: it could hand this machine's own PCI devices to libvirt; use defineDomain(), which checks the domain first`);
  }
}

/** A hook that appends "domain op subop extra" to `logFile` per call and reads its stdin. */
export function recordingHook(name: string, logFile: string): HookFile {
  return { name, content: `#!/bin/sh\ncat > /dev/null\necho "$*" >> '${logFile.replace(/'/g, `'\\''`)}'\nexit 0\n` };
}

let active: HarnessState | undefined;

process.on('exit', () => {
  if (active) teardownSync(active);
});

export async function startLibvirt(options: LibvirtOptions = {}): Promise<Libvirt> {
  if (active) throw new Error('the libvirt harness is already running in this test process: stop() the first one before starting another');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-libvirt-'));
  const state: HarnessState = { ownerPid: process.pid, workDir, hooks: [], createdHooksDir: false, qemuConfChanged: false, domains: [] };
  try {
    await acquire(state, options.waitForOtherRunMs ?? 60_000);
  } catch (e) {
    fs.rmSync(workDir, { recursive: true, force: true });
    throw e;
  }
  active = state;
  try {
    refuseForeignDaemons();
    refuseAutostartNetworks();
    patchQemuConf(state);
    installHooks(state, options.hooks ?? []);
    state.virtlogdPid = await startDaemon('/usr/sbin/virtlogd', 'virtlogd', state);
    saveState(state);
    await startLibvirtd(state);
    return new RunningLibvirt(state);
  } catch (e) {
    // The first failure is the one to report; the teardown's own problems would only hide it.
    await stopAll(state).catch(() => undefined);
    throw e;
  }
}

async function acquire(state: HarnessState, waitMs: number): Promise<void> {
  fs.mkdirSync(HARNESS_STATE_DIR, { recursive: true, mode: 0o755 });
  await waitFor(
    `release of the libvirt harness by another test run (${HARNESS_STATE_FILE})`,
    async () => {
      try {
        fs.writeFileSync(HARNESS_STATE_FILE, JSON.stringify(state), { flag: 'wx' });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const other = readState();
      if (other && isRunning(other.ownerPid)) return false;
      // The run that wrote it is gone: undo what it left, then try again.
      if (other) await recoverStale(other);
      fs.rmSync(HARNESS_STATE_FILE, { force: true });
      return false;
    },
    { timeoutMs: waitMs, intervalMs: 200 },
  );
}

function readState(): HarnessState | undefined {
  const text = readFileOrUndefined(HARNESS_STATE_FILE);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as HarnessState;
  } catch {
    return undefined;
  }
}

function saveState(state: HarnessState): void {
  fs.writeFileSync(HARNESS_STATE_FILE, JSON.stringify(state, null, 1));
}

async function recoverStale(state: HarnessState): Promise<void> {
  teardownSync(state);
  for (const [pid, name] of [[state.libvirtdPid, 'libvirtd'], [state.virtlogdPid, 'virtlogd']] as const) {
    if (pid !== undefined) await stopPid(pid, { expectName: name });
  }
}

function refuseForeignDaemons(): void {
  for (const name of ['libvirtd', 'virtqemud', 'virtlogd']) {
    const pids = findPidsByName(name);
    if (pids.length) {
      throw new Error(`a ${name} (pid ${pids.join(', ')}) that this test harness did not start is running: stop it first; the harness starts its own, with the test hooks installed before it starts`);
    }
  }
}

function refuseAutostartNetworks(): void {
  const networks = fs.existsSync(NETWORK_AUTOSTART_DIR) ? fs.readdirSync(NETWORK_AUTOSTART_DIR) : [];
  if (networks.length) {
    throw new Error(`libvirt would autostart the network(s) ${networks.join(', ')} (${NETWORK_AUTOSTART_DIR}) and change this machine's networking: disable autostart (virsh net-autostart --disable NAME) before running the e2e tests`);
  }
}

function patchQemuConf(state: HarnessState): void {
  const original = fs.readFileSync(QEMU_CONF, 'utf8');
  const patched = qemuConfWithRootUser(original);
  if (patched === undefined) return;
  fs.copyFileSync(QEMU_CONF, QEMU_CONF_BACKUP);
  state.qemuConfChanged = true;
  saveState(state);
  fs.writeFileSync(QEMU_CONF, patched);
}

function installHooks(state: HarnessState, hooks: HookFile[]): void {
  if (!fs.existsSync(HOOKS_DIR)) {
    state.createdHooksDir = true;
    saveState(state);
    fs.mkdirSync(HOOKS_DIR, { recursive: true, mode: 0o755 });
  }
  for (const hook of hooks) {
    if (!/^[A-Za-z0-9_.-]+$/.test(hook.name)) throw new Error(`hook name ${JSON.stringify(hook.name)} must be a plain file name`);
    const target = path.join(HOOKS_DIR, hook.name);
    if (fs.existsSync(target)) {
      throw new Error(`${target} already exists and was not installed by this test run: refusing to replace it; remove it or pick another hook name`);
    }
    state.hooks.push(target);
    saveState(state);
    const content = 'content' in hook ? hook.content : fs.readFileSync(hook.srcPath);
    fs.writeFileSync(target, content, { mode: 0o755 });
    fs.chmodSync(target, 0o755);
  }
}

async function startLibvirtd(state: HarnessState): Promise<void> {
  state.libvirtdPid = await startDaemon('/usr/sbin/libvirtd', 'libvirtd', state);
  saveState(state);
  await waitFor('libvirtd answering virsh version', async () => (await virshRaw(['version'])).code === 0, { timeoutMs: 20_000, intervalMs: 100 });
}

/** Starts a libvirt daemon with -d -p; resolves with its PID once it has written its pidfile. */
async function startDaemon(binary: string, name: 'libvirtd' | 'virtlogd', state: HarnessState): Promise<number> {
  const pidFile = path.join(state.workDir, `${name}.pid`);
  fs.rmSync(pidFile, { force: true });
  const outFile = path.join(state.workDir, `${name}.out`);
  const out = fs.openSync(outFile, 'a');
  const env = {
    ...process.env,
    LIBVIRT_LOG_FILTERS: '1:util.hook 3:*',
    LIBVIRT_LOG_OUTPUTS: `1:file:${path.join(state.workDir, `${name}.log`)}`,
  };
  const child = spawnTracked(binary, ['-d', '-p', pidFile], { env, stdio: ['ignore', out, out] });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`could not run ${binary}: ${e.message}; install libvirt-daemon-system`)));
    child.on('exit', (c) => resolve(c));
  });
  fs.closeSync(out);
  if (code !== 0) {
    throw new Error(`${name} failed to start (exit ${code}): ${(readFileOrUndefined(outFile) ?? '').trim()}; see ${state.workDir}`);
  }
  return waitForPidFile(pidFile, name);
}

function virshRaw(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return runCommand('virsh', args, { env: { ...process.env, LIBVIRT_DEFAULT_URI: LIBVIRT_URI }, ...options });
}

class RunningLibvirt implements Libvirt {
  constructor(private readonly state: HarnessState) {}

  get workDir(): string {
    return this.state.workDir;
  }

  get libvirtdPid(): number {
    return this.state.libvirtdPid as number;
  }

  get virtlogdPid(): number {
    return this.state.virtlogdPid as number;
  }

  async virsh(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    checkVirshArgs(args);
    return virshRaw(args, options);
  }

  async defineDomain(xml: string): Promise<string> {
    const name = assertDomainSafe(xml);
    if (!this.state.domains.includes(name) && (await virshRaw(['domuuid', name])).code === 0) {
      throw new Error(`a domain named ${name} already exists on this machine and was not defined by this test run: refusing to overwrite it; pick another name`);
    }
    const file = path.join(this.state.workDir, `${name}.xml`);
    fs.writeFileSync(file, xml);
    if (!this.state.domains.includes(name)) this.state.domains.push(name);
    saveState(this.state);
    const result = await virshRaw(['define', file]);
    if (result.code !== 0) throw new Error(`virsh define of test domain ${name} failed: ${result.stderr.trim()}`);
    return name;
  }

  domainPid(name: string): number | undefined {
    return qemuPid(name);
  }

  libvirtdLog(): string {
    return readFileOrUndefined(path.join(this.state.workDir, 'libvirtd.log')) ?? '';
  }

  async restart(): Promise<void> {
    if (this.state.libvirtdPid !== undefined) await stopPid(this.state.libvirtdPid, { expectName: 'libvirtd' });
    await startLibvirtd(this.state);
  }

  stop(): Promise<void> {
    return stopAll(this.state);
  }
}

function qemuPid(domain: string): number | undefined {
  const pid = Number(readFileOrUndefined(path.join(DOMAIN_RUN_DIR, `${domain}.pid`))?.trim());
  return Number.isInteger(pid) && pid > 0 && processName(pid) === QEMU_COMM ? pid : undefined;
}

/** The orderly teardown; collects failures and reports them all once everything has been tried. */
async function stopAll(state: HarnessState): Promise<void> {
  const problems: string[] = [];
  const libvirtdUp = state.libvirtdPid !== undefined && processName(state.libvirtdPid) === 'libvirtd';
  for (const name of libvirtdUp ? [...state.domains] : []) {
    const pid = qemuPid(name);
    const destroyed = await virshRaw(['destroy', name]);
    if (destroyed.code !== 0 && !/not running/.test(destroyed.stderr)) problems.push(`virsh destroy ${name}: ${destroyed.stderr.trim()}`);
    const removed = await virshRaw(['undefine', name]);
    if (removed.code === 0) state.domains.splice(state.domains.indexOf(name), 1);
    else problems.push(`virsh undefine ${name}: ${removed.stderr.trim()}`);
    if (pid !== undefined) await stopPid(pid, { expectName: QEMU_COMM });
  }
  for (const [pid, name] of [[state.libvirtdPid, 'libvirtd'], [state.virtlogdPid, 'virtlogd']] as const) {
    if (pid !== undefined) await stopPid(pid, { expectName: name }).catch((e: Error) => problems.push(e.message));
  }
  teardownSync(state);
  fs.rmSync(state.workDir, { recursive: true, force: true });
  if (problems.length) throw new Error(`the libvirt harness stopped with problems: ${problems.join('; ')}`);
}

/**
 * Undoes what the state file records, without waiting (safe in an exit handler): domains, daemons
 * (signalled by PID, only while they still carry the recorded name), hooks, qemu.conf, the lock.
 */
function teardownSync(state: HarnessState): void {
  const libvirtdUp = state.libvirtdPid !== undefined && processName(state.libvirtdPid) === 'libvirtd';
  for (const name of state.domains) {
    if (libvirtdUp) {
      for (const sub of ['destroy', 'undefine']) {
        try {
          execFileSync('virsh', [sub, name], { env: { ...process.env, LIBVIRT_DEFAULT_URI: LIBVIRT_URI }, stdio: 'ignore', timeout: 10_000 });
        } catch {
          // not running, or already gone
        }
      }
    }
    const pid = qemuPid(name);
    if (pid !== undefined) signalPid(pid, 'SIGKILL');
  }
  for (const [pid, name] of [[state.libvirtdPid, 'libvirtd'], [state.virtlogdPid, 'virtlogd']] as const) {
    if (pid !== undefined && processName(pid) === name) signalPid(pid, 'SIGTERM');
  }
  // With libvirtd gone, removing the definition is what undefine would have done.
  for (const name of state.domains) fs.rmSync(path.join(DOMAIN_CONFIG_DIR, `${name}.xml`), { force: true });
  state.domains = [];
  for (const hook of state.hooks) fs.rmSync(hook, { force: true });
  state.hooks = [];
  if (state.createdHooksDir && fs.existsSync(HOOKS_DIR) && fs.readdirSync(HOOKS_DIR).length === 0) fs.rmdirSync(HOOKS_DIR);
  if (state.qemuConfChanged && fs.existsSync(QEMU_CONF_BACKUP)) {
    fs.copyFileSync(QEMU_CONF_BACKUP, QEMU_CONF);
    fs.rmSync(QEMU_CONF_BACKUP);
  }
  state.qemuConfChanged = false;
  if (readState()?.ownerPid === state.ownerPid) fs.rmSync(HARNESS_STATE_FILE, { force: true });
  if (active === state) active = undefined;
}
