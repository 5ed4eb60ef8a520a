// The gpu-hookd side of the libvirt e2e tests: the simulated seed host (an RTX 2060 whose IOMMU
// group holds four functions), a private system-like bus, and the real daemon process on both. Also
// the hook's config file: libvirt passes the hook no environment, so the hook that libvirtd runs
// can only learn the private bus from /etc/gpu-hookd/hook.conf, written here and removed after.
//
// GPU_HOOKD_INSTALLED=1 runs the installed gpu-hookd and hook (/usr/bin/gpu-hookd,
// /etc/libvirt/hooks/qemu.d/gpu-hookd) instead of this checkout's.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import * as dbus from 'dbus-next';
import { BUS_NAME, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, gpuObjectPath } from '../../../src/dbus/contract';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { loadScenario } from '../../../src/sim/scenarios';
import { snapshotHost, type HostSnapshot } from '../../../src/sim/snapshot';
import { startPrivateSystemBus, type PrivateBus } from '../../support/private-bus';
import { isRunning, processName, readFileOrUndefined, runCommand, signalPid, spawnTracked, stopPid, waitFor, type CommandResult } from '../../support/processes';
import type { HookFile } from '../../support/libvirt-harness';

/** The seed's RTX 2060: its display function and every function of its IOMMU group. */
export const RTX = '0000:01:00.0';
export const RTX_GROUP = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
export const RTX_HOST_DRIVERS = ['nouveau', 'snd_hda_intel', 'xhci_hcd', 'nvidia-gpu'];
export const ALL_VFIO = RTX_GROUP.map(() => 'vfio-pci');

export const INSTALLED = process.env.GPU_HOOKD_INSTALLED === '1';
const CHECKOUT = path.resolve(__dirname, '../../../..');
/** The hook as a file to run directly or to hand to the libvirt harness. */
export const HOOK_PATH = INSTALLED ? '/etc/libvirt/hooks/qemu.d/gpu-hookd' : path.join(CHECKOUT, 'hooks/qemu');
const DAEMON_COMMAND = INSTALLED ? ['/usr/bin/gpu-hookd'] : [process.execPath, path.join(CHECKOUT, 'dist/src/daemon/main.js')];

export const HOOK_CONF = '/etc/gpu-hookd/hook.conf';
const HOOK_CONF_MARK = '# written by the gpu-hookd e2e tests, pid';

/** Our metadata declaring a GPU, as users write it (see docs/hook.md). */
export function gpuMetadata(address = RTX, settings = ''): string {
  return `<hookd:vm xmlns:hookd='https://gpuhookd.org/xmlns/vm/1'${settings ? ` ${settings}` : ''}><hookd:gpu address='${address}'/></hookd:vm>`;
}

// The e2e bus holds only root's processes (the daemon, libvirtd's hooks): one root-only policy.
const ROOT_POLICY = `<busconfig>
  <policy user="root">
    <allow own="${BUS_NAME}"/>
    <allow send_destination="${BUS_NAME}"/>
  </policy>
</busconfig>
`;

export interface GpuProperties {
  mode: string;
  owner: string;
  lastError: string;
  drivers: string[];
}

export class GpuHost {
  private daemon: ChildProcess | undefined;
  private conn: dbus.MessageBus | undefined;

  private constructor(
    readonly sim: SimHost,
    readonly bus: PrivateBus,
    readonly workDir: string,
  ) {}

  static async start(): Promise<GpuHost> {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-e2e-libvirt-'));
    const sim = await createSimHost(loadScenario('seed'), { dir: path.join(workDir, 'host') });
    fs.writeFileSync(path.join(workDir, 'config.json'), '{}\n');
    let bus: PrivateBus | undefined;
    try {
      bus = await startPrivateSystemBus();
      await bus.addPolicy('org.gpuhookd1-e2e.conf', ROOT_POLICY);
      const host = new GpuHost(sim, bus, workDir);
      await host.startDaemon();
      return host;
    } catch (e) {
      await bus?.stop().catch(() => undefined);
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

  /** The hook's config for this host: the private bus and the simulated sysfs. */
  hookConf(extra: Record<string, string> = {}): string {
    const lines = { GPU_HOOKD_BUS: this.bus.address, GPU_HOOKD_SYSFS: path.join(this.root, 'sys'), ...extra };
    return Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
  }

  /** Starts the real daemon process and waits until it owns its bus name. */
  async startDaemon(): Promise<void> {
    if (this.daemon && this.daemon.exitCode === null && this.daemon.signalCode === null) throw new Error('the daemon is already running');
    const log = fs.openSync(this.daemonLogFile, 'a');
    const args = ['--root', this.root, '--bus', this.bus.address, '--state-dir', this.stateDir, '--config', path.join(this.workDir, 'config.json')];
    const [cmd, ...pre] = DAEMON_COMMAND;
    this.daemon = spawnTracked(cmd, [...pre, ...args], { stdio: ['ignore', log, log], env: { ...process.env, NO_COLOR: '1' } });
    fs.closeSync(log);
    const child = this.daemon;
    await waitFor(`gpu-hookd owning ${BUS_NAME} (log: ${this.daemonLogFile})`, async () => {
      if (child.exitCode !== null) throw new Error(`gpu-hookd exited with status ${child.exitCode}: ${this.daemonLog().trim()}`);
      return this.nameHasOwner();
    }, { timeoutMs: 20_000 });
  }

  /** SIGTERM: the daemon finishes what is in flight and leaves the bus. */
  async stopDaemon(): Promise<void> {
    const pid = this.daemonPid();
    if (pid === undefined) return;
    await stopPid(pid, { expectName: processName(pid) ?? 'node' });
    await waitFor(`${BUS_NAME} released`, async () => !(await this.nameHasOwner()));
  }

  /** SIGKILL: no chance to clean up, as after a crash. */
  async killDaemon(): Promise<void> {
    const pid = this.daemonPid();
    if (pid === undefined) throw new Error('the daemon is not running');
    signalPid(pid, 'SIGKILL');
    await waitFor(`gpu-hookd (pid ${pid}) gone`, () => !isRunning(pid));
    await waitFor(`${BUS_NAME} released`, async () => !(await this.nameHasOwner()));
  }

  daemonRunning(): boolean {
    return this.daemonPid() !== undefined;
  }

  daemonLog(): string {
    return readFileOrUndefined(this.daemonLogFile) ?? '';
  }

  /** The driver of each function of the RTX's group, as the (simulated) kernel says now. */
  drivers(): string[] {
    return RTX_GROUP.map((f) => this.sim.io.readLinkName(`sys/bus/pci/devices/${f}/driver`) ?? '');
  }

  /** Everything the simulated kernel shows: for "nothing changed" after a refused or failed start. */
  snapshot(): HostSnapshot {
    return snapshotHost(this.sim.io);
  }

  /**
   * Drivers and overrides of every PCI device, /dev/vfio and DRM nodes: what a detach and attach
   * round trip must restore. (The boot VGA's efifb does not come back by design: KERNEL-FACTS.)
   */
  pciState(): Pick<HostSnapshot, 'pciDevices' | 'vfio' | 'drm'> {
    const { pciDevices, vfio, drm } = this.snapshot();
    return { pciDevices, vfio, drm };
  }

  async gpu(address = RTX): Promise<GpuProperties> {
    const reply = await this.connection().call(
      new dbus.Message({ destination: BUS_NAME, path: gpuObjectPath(address), interface: 'org.freedesktop.DBus.Properties', member: 'GetAll', signature: 's', body: [GPU_IFACE] }),
    );
    const props = (reply?.body[0] ?? {}) as Record<string, dbus.Variant>;
    const drivers = props.Drivers.value as Record<string, string>;
    return {
      mode: props.Mode.value as string,
      owner: props.Owner.value as string,
      lastError: props.LastError.value as string,
      drivers: RTX_GROUP.map((f) => drivers[f] ?? ''),
    };
  }

  /** Calls a Manager method with string arguments, as the hook does; rejects with the DBusError. */
  async callManager(member: string, ...args: string[]): Promise<unknown[]> {
    const reply = await this.connection().call(
      new dbus.Message({ destination: BUS_NAME, path: MANAGER_PATH, interface: MANAGER_IFACE, member, signature: 's'.repeat(args.length), body: args }),
    );
    return reply?.body ?? [];
  }

  /** Runs the hook script directly, as libvirt would, with this host's config. */
  runHook(args: string[], xml: string, conf = this.hookConf()): Promise<CommandResult> {
    const confFile = path.join(this.workDir, `hook-${process.hrtime.bigint()}.conf`);
    fs.writeFileSync(confFile, conf);
    // libvirt's environment for hooks: LC_ALL=C, PATH and HOME only.
    const env = { LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/root', GPU_HOOKD_HOOK_CONF: confFile };
    return runCommand(HOOK_PATH, args, { env, input: xml }).finally(() => fs.rmSync(confFile, { force: true }));
  }

  async stop(): Promise<void> {
    this.conn?.disconnect();
    this.conn = undefined;
    await this.stopDaemon().catch(() => undefined);
    await this.bus.stop();
    await this.sim.dispose();
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  private get daemonLogFile(): string {
    return path.join(this.workDir, 'gpu-hookd.log');
  }

  private daemonPid(): number | undefined {
    const pid = this.daemon?.pid;
    return pid !== undefined && this.daemon?.exitCode === null && this.daemon.signalCode === null && isRunning(pid) ? pid : undefined;
  }

  private connection(): dbus.MessageBus {
    this.conn ??= this.bus.connect();
    return this.conn;
  }

  private async nameHasOwner(): Promise<boolean> {
    const reply = await this.connection().call(
      new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'NameHasOwner', signature: 's', body: [BUS_NAME] }),
    );
    return reply?.body[0] === true;
  }
}

/** Our hook for the libvirt harness; none when the installed package already put it in place. */
export function gpuHookdHookFiles(): HookFile[] {
  return INSTALLED ? [] : [{ name: 'gpu-hookd', srcPath: HOOK_PATH }];
}

/**
 * A hook that runs after ours ("zz-" sorts last) and records, per call, the drivers of the RTX's
 * functions at that moment: "domain op subop driver driver driver driver".
 */
export function driverProbeHook(root: string, logFile: string): HookFile {
  const devices = path.join(root, 'sys/bus/pci/devices');
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return {
    name: 'zz-gpu-hookd-e2e-probe',
    content: `#!/bin/bash
cat >/dev/null
line="$1 $2 $3"
for f in ${RTX_GROUP.join(' ')}; do d=$(readlink ${q(devices)}/"$f"/driver); line="$line \${d##*/}"; done
echo "$line" >> ${q(logFile)}
`,
  };
}

/** The probe's records for one domain, as "op subop drivers...". */
export function probeRecords(logFile: string, domain: string): string[] {
  return (readFileOrUndefined(logFile) ?? '')
    .split('\n')
    .filter((line) => line.startsWith(`${domain} `))
    .map((line) => line.slice(domain.length + 1));
}

/**
 * Writes /etc/gpu-hookd/hook.conf for the hook libvirtd runs; returns the function that removes it.
 * A file this test run did not write is never replaced; one left by a killed run is.
 */
export function installHookConf(text: string): () => void {
  const dir = path.dirname(HOOK_CONF);
  const existing = readFileOrUndefined(HOOK_CONF);
  if (existing !== undefined) {
    const owner = Number(new RegExp(`^${HOOK_CONF_MARK} (\\d+)`).exec(existing)?.[1]);
    if (!owner || isRunning(owner)) {
      throw new Error(`${HOOK_CONF} exists and was not written by a finished gpu-hookd e2e run: refusing to replace it; move it away while the e2e tests run`);
    }
  }
  const createdDir = !fs.existsSync(dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.writeFileSync(HOOK_CONF, `${HOOK_CONF_MARK} ${process.pid}\n${text}`, { mode: 0o644 });
  const remove = (): void => {
    if (readFileOrUndefined(HOOK_CONF)?.startsWith(`${HOOK_CONF_MARK} ${process.pid}\n`)) fs.rmSync(HOOK_CONF, { force: true });
    if (createdDir && fs.existsSync(dir) && fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
    process.off('exit', remove);
  };
  process.on('exit', remove);
  return remove;
}
