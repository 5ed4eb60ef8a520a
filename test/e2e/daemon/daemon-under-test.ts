// The real gpu-hookd process (its own main, as systemd starts it, through the simulated daemon's
// entry dist/src/sim/daemon-main.js, which wires the simulator as its host) on a simulated host,
// on a private system-like bus that enforces the policy file we ship (systemd/org.gpuhookd1.conf),
// with its own state directory and config file. On the seed, whose only GPU draws the desktop, the
// systemd and logind stand-ins of a simulated desktop answer on the same bus, so that the daemon
// can hand the GPU over. Tests talk to the daemon as root over a dbus-next connection, read its
// JSON log, and kill or restart it.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import * as dbus from 'dbus-next';
import { BUS_NAME, MANAGER_IFACE, MANAGER_PATH } from '../../../src/dbus/contract';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { loadScenario } from '../../../src/sim/scenarios';
import { snapshotHost, type HostSnapshot } from '../../../src/sim/snapshot';
import { startPrivateSystemBus, type PrivateBus } from '../../support/private-bus';
import { startSimulatedDesktop, type DesktopOptions, type SimulatedDesktop } from '../../../src/sim/desktop/simulated-desktop';
import { isRunning, readFileOrUndefined, signalPid, spawnTracked, waitFor } from '../../support/processes';
import { programForUsers } from '../../support/test-users';

const CHECKOUT = path.resolve(__dirname, '../../../..');
/** GPU_HOOKD_INSTALLED=1: the files the package installed, not this checkout's (test/e2e/packaging
 *  runs the libvirt e2e tests so after installing the .deb). */
const INSTALLED = process.env.GPU_HOOKD_INSTALLED === '1';
const PROGRAM = INSTALLED ? '/usr/lib/gpu-hookd' : CHECKOUT;
export const HOOKCTL_ENTRY = path.join(PROGRAM, 'dist/src/cli/main.js');

let daemonEntry: string | undefined;
/**
 * The simulated daemon's entry. The package installs no simulator, so for the installed files it is
 * a copy of the installed program with this checkout's dist/src/sim beside it: the daemon's modules
 * are the installed ones, only its host is the simulator's. Made once per test process.
 */
export function simulatedDaemonEntry(): string {
  if (daemonEntry !== undefined) return daemonEntry;
  if (!INSTALLED) return (daemonEntry = path.join(CHECKOUT, 'dist/src/sim/daemon-main.js'));
  const program = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-installed-sim-'));
  process.once('exit', () => fs.rmSync(program, { recursive: true, force: true }));
  fs.cpSync(path.join(PROGRAM, 'dist'), path.join(program, 'dist'), { recursive: true });
  fs.cpSync(path.join(CHECKOUT, 'dist/src/sim'), path.join(program, 'dist/src/sim'), { recursive: true });
  for (const shared of ['node_modules', 'build']) fs.symlinkSync(path.join(PROGRAM, shared), path.join(program, shared));
  fs.copyFileSync(path.join(PROGRAM, 'package.json'), path.join(program, 'package.json'));
  return (daemonEntry = path.join(program, 'dist/src/sim/daemon-main.js'));
}

/** gpu-hookctl and our Node modules as a second user runs them (see programForUsers): what the package
 *  installed is readable by everyone, this checkout may not be (a home directory only its owner enters). */
export function programForTestUsers(): { hookctl: string; module(name: string): string } {
  const copy = programForUsers(CHECKOUT);
  return { hookctl: INSTALLED ? HOOKCTL_ENTRY : copy.hookctl, module: copy.module };
}
export const SHIPPED_POLICY = INSTALLED ? '/usr/share/dbus-1/system.d/org.gpuhookd1.conf' : path.join(CHECKOUT, 'systemd/org.gpuhookd1.conf');

export interface DaemonUnderTestOptions {
  /** Built-in scenario of the simulated host; default "seed". */
  scenario?: string;
  /** The config file's content; default {}. */
  config?: unknown;
  /** The desktop whose display manager the daemon stops and starts; default on the seed: sddm and its Xorg; false: none. */
  desktop?: DesktopOptions | false;
}

/** The seed's display manager processes: sddm and the Xorg server holding /dev/dri/card0. */
export const SEED_DESKTOP: DesktopOptions = { dmPids: [812, 845] };

export interface LogEvent {
  level: number;
  msg: string;
  event?: string;
  [key: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class DaemonUnderTest {
  private child: ChildProcess | undefined;
  private exit: Promise<Exit> | undefined;
  private conn: dbus.MessageBus | undefined;

  private constructor(
    readonly sim: SimHost,
    readonly bus: PrivateBus,
    readonly workDir: string,
    readonly desktop: SimulatedDesktop | undefined,
  ) {}

  /** Builds the host, starts the bus with the shipped policy, writes the config and starts the daemon. */
  static async start(options: DaemonUnderTestOptions = {}): Promise<DaemonUnderTest> {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-e2e-daemon-'));
    const scenario = options.scenario ?? 'seed';
    const sim = await createSimHost(loadScenario(scenario), { dir: path.join(workDir, 'host') });
    const desktopOptions = options.desktop ?? (scenario === 'seed' ? SEED_DESKTOP : false);
    let bus: PrivateBus | undefined;
    let desktop: SimulatedDesktop | undefined;
    try {
      bus = await startPrivateSystemBus({ policyFiles: [SHIPPED_POLICY] });
      if (desktopOptions) desktop = await startSimulatedDesktop(bus, sim.root, desktopOptions);
      const dut = new DaemonUnderTest(sim, bus, workDir, desktop);
      fs.mkdirSync(path.dirname(dut.configFile));
      fs.mkdirSync(dut.metricsDir);
      dut.writeConfig(options.config ?? {});
      await dut.startDaemon();
      return dut;
    } catch (e) {
      await desktop?.stop();
      await bus?.stop();
      await sim.dispose();
      fs.rmSync(workDir, { recursive: true, force: true });
      throw e;
    }
  }

  get root(): string {
    return this.sim.root;
  }
  get stateDir(): string {
    return path.join(this.workDir, 'state');
  }
  get configFile(): string {
    return path.join(this.workDir, 'etc', 'config.json');
  }
  /** node_exporter's textfile directory as the daemon is told it; the daemon writes gpu-hookd.prom there. */
  get metricsDir(): string {
    return path.join(this.workDir, 'metrics');
  }
  get logFile(): string {
    return path.join(this.workDir, 'gpu-hookd.log');
  }
  get pid(): number | undefined {
    const pid = this.child?.pid;
    return pid !== undefined && this.child?.exitCode === null && this.child.signalCode === null ? pid : undefined;
  }

  writeConfig(config: unknown): void {
    fs.writeFileSync(this.configFile, typeof config === 'string' ? config : JSON.stringify(config, null, 2) + '\n');
  }

  /**
   * Starts the daemon process; resolves once it owns org.gpuhookd1 (unless `waitForName` is false).
   * `env` adds to a minimal environment (NOTIFY_SOCKET, WATCHDOG_USEC, ...).
   */
  async startDaemon(env: Record<string, string> = {}, waitForName = true): Promise<void> {
    if (this.pid !== undefined) throw new Error(`gpu-hookd (pid ${this.pid}) is already running`);
    const log = fs.openSync(this.logFile, 'a');
    const child = spawnTracked(process.execPath, this.daemonArgs(), { stdio: ['ignore', log, log], env: { PATH: process.env.PATH, ...env } });
    fs.closeSync(log);
    this.child = child;
    this.exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    if (!waitForName) return;
    await waitFor(`gpu-hookd owning ${BUS_NAME} (log: ${this.logFile})`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`gpu-hookd exited (${child.exitCode ?? child.signalCode}) before owning ${BUS_NAME}:\n${this.log()}`);
      }
      return this.nameHasOwner();
    }, { timeoutMs: 20_000 });
  }

  /** node's arguments that start the daemon on this host, bus, state and metrics directories and config. */
  daemonArgs(): string[] {
    return [simulatedDaemonEntry(), '--root', this.root, '--bus', this.bus.address, '--state-dir', this.stateDir, '--metrics-dir', this.metricsDir, '--config', this.configFile];
  }

  /** Resolves when the daemon process exits, with its status. */
  exited(): Promise<Exit> {
    if (!this.exit) throw new Error('gpu-hookd was never started');
    return this.exit;
  }

  /** Sends a signal to the daemon by its PID. */
  signal(signal: NodeJS.Signals): void {
    const pid = this.pid;
    if (pid === undefined) throw new Error('gpu-hookd is not running');
    signalPid(pid, signal);
  }

  /** SIGKILL, as a crash: nothing runs in the daemon after it. Resolves once it is gone and the name is free. */
  async kill(): Promise<void> {
    const pid = this.pid;
    this.signal('SIGKILL');
    await this.exited();
    await waitFor(`gpu-hookd (pid ${pid}) gone and ${BUS_NAME} released`, async () => !isRunning(pid as number) && !(await this.nameHasOwner()));
  }

  /** SIGTERM and wait for the exit (bounded by the caller's test timeout). */
  async terminate(): Promise<Exit> {
    this.signal('SIGTERM');
    return this.exited();
  }

  log(): string {
    return readFileOrUndefined(this.logFile) ?? '';
  }

  /** The daemon's JSON log lines, parsed; lines that are not JSON are skipped. */
  logEvents(): LogEvent[] {
    return this.log()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogEvent);
  }

  waitForLog(what: string, match: (e: LogEvent) => boolean, timeoutMs = 10_000): Promise<LogEvent> {
    return waitFor(`gpu-hookd logging ${what}`, () => this.logEvents().find(match), { timeoutMs });
  }

  snapshot(): HostSnapshot {
    return snapshotHost(this.sim.io);
  }

  /** A root connection to the private bus, shared by the tests of this daemon. */
  connection(): dbus.MessageBus {
    this.conn ??= this.bus.connect();
    return this.conn;
  }

  /** Calls a Manager method as root; rejects with the DBusError the daemon answered. */
  async call(member: string, signature = '', body: unknown[] = []): Promise<unknown[]> {
    const reply = await this.connection().call(new dbus.Message({ destination: BUS_NAME, path: MANAGER_PATH, interface: MANAGER_IFACE, member, signature, body }));
    return reply?.body ?? [];
  }

  /** Properties.GetAll as plain values. */
  async properties(objectPath: string, iface: string): Promise<Record<string, unknown>> {
    const reply = await this.connection().call(
      new dbus.Message({ destination: BUS_NAME, path: objectPath, interface: 'org.freedesktop.DBus.Properties', member: 'GetAll', signature: 's', body: [iface] }),
    );
    const props = (reply?.body[0] ?? {}) as Record<string, dbus.Variant>;
    return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v.value]));
  }

  async nameHasOwner(): Promise<boolean> {
    const reply = await this.connection().call(
      new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'NameHasOwner', signature: 's', body: [BUS_NAME] }),
    );
    return reply?.body[0] === true;
  }

  /** Ends the daemon (SIGTERM, then SIGKILL), the bus and the host; removes the work directory. */
  async dispose(): Promise<void> {
    this.conn?.disconnect();
    this.conn = undefined;
    if (this.pid !== undefined) {
      this.signal('SIGTERM');
      const timer = setTimeout(() => this.pid !== undefined && signalPid(this.pid, 'SIGKILL'), 10_000);
      await this.exited();
      clearTimeout(timer);
    }
    await this.desktop?.stop();
    await this.bus.stop();
    await this.sim.dispose();
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}

/**
 * Registers a mocha hook that prints the daemon's log after a failed test, as power-profiles-daemon's
 * tests do. Register it before an afterEach that disposes the daemon: hooks run in that order.
 */
export function printDaemonLogOnFailure(daemon: () => DaemonUnderTest | undefined): void {
  afterEach(function () {
    const dut = daemon();
    if (this.currentTest?.state === 'failed' && dut) {
      console.log(`\n--- gpu-hookd log (${dut.logFile}) ---\n${dut.log().split('\n').slice(-60).join('\n')}\n--- end of log ---`);
    }
  });
}

/**
 * The usual life of a describe block's daemon: started before its tests (on the seed host unless options
 * say otherwise), its log printed after a failed test, disposed after the block. `use` receives it.
 */
export function useDaemonUnderTest(use: (dut: DaemonUnderTest) => void, options: DaemonUnderTestOptions = {}): void {
  let started: DaemonUnderTest | undefined;
  before(async () => {
    started = await DaemonUnderTest.start(options);
    use(started);
  });
  after(async () => {
    await started?.dispose();
  });
  printDaemonLogOnFailure(() => started);
}

/** The error a D-Bus call was answered with: its name and text. Fails when the call succeeded. */
export async function callError(call: Promise<unknown>): Promise<{ name: string; text: string }> {
  try {
    await call;
  } catch (e) {
    const err = e as { type?: string; text?: string; message?: string };
    return { name: err.type ?? '', text: err.text ?? err.message ?? String(e) };
  }
  throw new Error('the call succeeded; an error was expected');
}

/** A signal or a reply, in the order the test's connection received it. */
export interface Recorded {
  path: string;
  interface: string;
  member: string;
  body: unknown[];
}

/** Records every signal org.gpuhookd1 sends, in arrival order, until stopped. */
export async function recordSignals(conn: dbus.MessageBus): Promise<{ recorded: Recorded[]; stop(): Promise<void> }> {
  const rule = `type='signal',sender='${BUS_NAME}'`;
  const match = (member: string): dbus.Message =>
    new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member, signature: 's', body: [rule] });
  const recorded: Recorded[] = [];
  const listener = (msg: dbus.Message): void => {
    if (msg.type !== dbus.MessageType.SIGNAL || !msg.path || !msg.interface || !msg.member) return;
    recorded.push({ path: msg.path, interface: msg.interface, member: msg.member, body: msg.body as unknown[] });
  };
  conn.on('message', listener);
  await conn.call(match('AddMatch'));
  return {
    recorded,
    stop: async () => {
      conn.off('message', listener);
      await conn.call(match('RemoveMatch'));
    },
  };
}
