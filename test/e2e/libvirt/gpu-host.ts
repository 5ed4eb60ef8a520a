// The gpu-hookd side of the libvirt e2e tests: the real daemon on the simulated seed host (an RTX
// 2060 whose IOMMU group holds four functions, and the host's desktop on it, whose display manager
// the daemon stops and starts around the move) on a private bus with our shipped policy
// (DaemonUnderTest), plus what the hook needs. libvirt passes the hook no environment, so the hook
// that libvirtd runs can only learn the private bus from /etc/gpu-hookd/hook.conf, written here and
// removed after.
//
// GPU_HOOKD_INSTALLED=1 runs the installed hook (/etc/libvirt/hooks/qemu.d/gpu-hookd) instead of
// this checkout's.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { GPU_IFACE, gpuObjectPath } from '../../../src/dbus/contract';
import type { HostSnapshot } from '../../../src/sim/snapshot';
import { DaemonUnderTest, type DaemonUnderTestOptions } from '../daemon/daemon-under-test';
import { isRunning, readFileOrUndefined, runCommand, waitFor, type CommandResult } from '../../support/processes';
import { startLibvirt, type HookFile, type Libvirt } from '../../support/libvirt-harness';

/** The seed's RTX 2060: its display function and every function of its IOMMU group. */
export const RTX = '0000:01:00.0';
export const RTX_GROUP = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
export const RTX_HOST_DRIVERS = ['nouveau', 'snd_hda_intel', 'xhci_hcd', 'nvidia-gpu'];
export const ALL_VFIO = RTX_GROUP.map(() => 'vfio-pci');

export const INSTALLED = process.env.GPU_HOOKD_INSTALLED === '1';
/** The hook as a file to run directly or to hand to the libvirt harness. */
export const HOOK_PATH = INSTALLED ? '/etc/libvirt/hooks/qemu.d/gpu-hookd' : path.resolve(__dirname, '../../../../hooks/qemu');

export const HOOK_CONF = '/etc/gpu-hookd/hook.conf';
const HOOK_CONF_MARK = '# written by the gpu-hookd e2e tests, pid';

/** Our metadata declaring a GPU, as users write it (see docs/hook.md). */
export function gpuMetadata(address = RTX, settings = ''): string {
  return `<hookd:vm xmlns:hookd='https://gpuhookd.org/xmlns/vm/1'${settings ? ` ${settings}` : ''}><hookd:gpu address='${address}'/></hookd:vm>`;
}

export interface GpuProperties {
  mode: string;
  owner: string;
  lastError: string;
  drivers: string[];
}

export class GpuHost {
  private constructor(readonly daemon: DaemonUnderTest) {}

  static async start(options: DaemonUnderTestOptions = {}): Promise<GpuHost> {
    return new GpuHost(await DaemonUnderTest.start(options));
  }

  get root(): string {
    return this.daemon.root;
  }

  get workDir(): string {
    return this.daemon.workDir;
  }

  /** The hook's config for this host: the private bus, the simulated sysfs, the daemon's state
   *  directory, and no system log (a warning must never reach this machine's own). */
  hookConf(extra: Record<string, string> = {}): string {
    const lines = {
      GPU_HOOKD_BUS: this.daemon.bus.address,
      GPU_HOOKD_SYSFS: path.join(this.root, 'sys'),
      GPU_HOOKD_STATE_DIR: this.daemon.stateDir,
      GPU_HOOKD_SYSLOG: '',
      ...extra,
    };
    return Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
  }

  startDaemon(): Promise<void> {
    return this.daemon.startDaemon();
  }

  /** SIGTERM: the daemon finishes what is in flight and leaves the bus. */
  async stopDaemon(): Promise<void> {
    if (this.daemon.pid === undefined) return;
    await this.daemon.terminate();
    await waitFor('org.gpuhookd1 released', async () => !(await this.daemon.nameHasOwner()));
  }

  /** SIGKILL: no chance to clean up, as after a crash. */
  killDaemon(): Promise<void> {
    return this.daemon.kill();
  }

  daemonRunning(): boolean {
    return this.daemon.pid !== undefined;
  }

  daemonLog(): string {
    return this.daemon.log();
  }

  /** The driver of each function of the RTX's group, as the (simulated) kernel says now. */
  drivers(): string[] {
    return RTX_GROUP.map((f) => this.daemon.sim.io.readLinkName(`sys/bus/pci/devices/${f}/driver`) ?? '');
  }

  /** The display manager's state as the systemd stand-in reports it: "active" while the desktop runs. */
  async displayManager(): Promise<string> {
    const desktop = this.daemon.desktop;
    if (!desktop) throw new Error('this simulated host has no desktop');
    return (await desktop.systemd.unit('display-manager.service')).activeState;
  }

  /** Everything the simulated kernel shows: for "nothing changed" after a refused or failed start. */
  snapshot(): HostSnapshot {
    return this.daemon.snapshot();
  }

  /**
   * Drivers and overrides of every PCI device, /dev/vfio and DRM nodes: what a detach and attach
   * round trip must restore. (The boot VGA's efifb does not come back by design: docs/kernel-facts.md.)
   */
  pciState(): Pick<HostSnapshot, 'pciDevices' | 'vfio' | 'drm'> {
    const { pciDevices, vfio, drm } = this.snapshot();
    return { pciDevices, vfio, drm };
  }

  async gpu(address = RTX): Promise<GpuProperties> {
    const props = await this.daemon.properties(gpuObjectPath(address), GPU_IFACE);
    const drivers = props.Drivers as Record<string, string>;
    return {
      mode: props.Mode as string,
      owner: props.Owner as string,
      lastError: props.LastError as string,
      drivers: RTX_GROUP.map((f) => drivers[f] ?? ''),
    };
  }

  /** Calls a Manager method with string arguments, as the hook does; rejects with the DBusError. */
  callManager(member: string, ...args: string[]): Promise<unknown[]> {
    return this.daemon.call(member, 's'.repeat(args.length), args);
  }

  /** Runs the hook script directly, as libvirt would, with this host's config. */
  runHook(args: string[], xml: string, conf = this.hookConf()): Promise<CommandResult> {
    const confFile = path.join(this.workDir, `hook-${process.hrtime.bigint()}.conf`);
    fs.writeFileSync(confFile, conf);
    // libvirt's environment for hooks: LC_ALL=C, PATH and HOME only.
    const env = { LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/root', GPU_HOOKD_HOOK_CONF: confFile };
    return runCommand(HOOK_PATH, args, { env, input: xml }).finally(() => fs.rmSync(confFile, { force: true }));
  }

  stop(): Promise<void> {
    return this.daemon.dispose();
  }
}

/**
 * A real libvirtd running our hook (and `extraHooks` after it), with hook.conf pointing the hook at
 * `host`. Both are one per machine: the harness is held first (waiting while another run holds it),
 * then hook.conf is written. stop() ends libvirtd and removes hook.conf.
 */
/** Stops libvirtd (when it was started), then the daemon and its host, whatever the first did. */
export async function stopLibvirtAndHost(stopLibvirt: (() => Promise<void>) | undefined, host: GpuHost | undefined): Promise<void> {
  try {
    await stopLibvirt?.();
  } finally {
    await host?.stop();
  }
}

export async function startLibvirtWithHook(host: GpuHost, extraHooks: HookFile[] = []): Promise<{ lv: Libvirt; stop(): Promise<void> }> {
  const lv = await startLibvirt({ hooks: [...gpuHookdHookFiles(), ...extraHooks], waitForOtherRunMs: 300_000 });
  let removeHookConf: () => void;
  try {
    removeHookConf = installHookConf(host.hookConf());
  } catch (e) {
    await lv.stop();
    throw e;
  }
  return {
    lv,
    stop: async () => {
      try {
        await lv.stop();
      } finally {
        removeHookConf();
      }
    },
  };
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
