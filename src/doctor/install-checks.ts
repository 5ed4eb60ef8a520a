// The installation's half of the doctor: the config file, the libvirt hook (and whether libvirtd
// has seen it), and the daemon on the bus. Plain functions over facts read once (install-facts.ts,
// daemon-facts.ts).

import type { DaemonConfig } from '../daemon/config-schema';
import { fail, ok, warn, type Check } from './check';

export const HOOK_PATH = '/etc/libvirt/hooks/qemu.d/gpu-hookd';

export interface ConfigFacts {
  path: string;
  found: boolean;
  /** The config's one-sentence problem when it cannot be used. */
  error?: string;
  /** The config (defaults filled in) when it can be used. */
  config?: DaemonConfig;
}

export interface HookEntry {
  /** Absolute path as the host sees it ("/etc/libvirt/hooks/qemu"). */
  path: string;
  /** When the directory entry was last changed (created, replaced): its ctime, in ms since the epoch. */
  changedAtMs: number;
}

export interface HookFacts {
  /** Our hook, or null when the entry does not exist. */
  hook: (HookEntry & { executable: boolean; ours: boolean; target: string | null }) | null;
  /** Other libvirt qemu hooks (hooks/qemu, other entries of hooks/qemu.d). */
  otherHooks: HookEntry[];
}

export interface LibvirtdProcess {
  pid: number;
  /** "libvirtd" or "virtqemud". */
  name: string;
  /** Start time in ms since the epoch, or null when /proc does not say. */
  startedAtMs: number | null;
}

export type DaemonFacts =
  | { state: 'running'; bus: string; version: string; status: string }
  | { state: 'activatable' | 'stopped'; bus: string }
  | { state: 'unreachable'; bus: string; error: string };

export function checkConfig(facts: ConfigFacts): Check {
  if (facts.error !== undefined) {
    return fail('config', `the config is invalid, so gpu-hookd keeps the last good one or will not start: ${facts.error}`, `fix ${facts.path} (keys: /usr/share/doc/gpu-hookd/config.md)`);
  }
  return ok('config', facts.found ? `${facts.path} is valid` : `no ${facts.path}: every setting is at its default`);
}

/** Is the hook there, executable and ours, and has libvirtd looked for hooks since it appeared? */
export function checkHook(hook: HookFacts, libvirtd: LibvirtdProcess[]): Check {
  const h = hook.hook;
  if (!h) {
    return fail('hook', `the libvirt hook ${HOOK_PATH} is missing`, `install the gpu-hookd package, or: sudo install -D -m 0755 hooks/qemu ${HOOK_PATH}; then sudo systemctl restart libvirtd`);
  }
  if (h.target !== null && !h.executable && !h.ours) {
    return fail('hook', `${HOOK_PATH} points to ${h.target}, which does not exist or is not executable`, 'reinstall the gpu-hookd package');
  }
  if (!h.ours) {
    return fail('hook', `${HOOK_PATH} is not gpu-hookd's hook (it never names org.gpuhookd1)`, `move it away and reinstall the gpu-hookd package`);
  }
  if (!h.executable) {
    return fail('hook', `${HOOK_PATH} is not executable, so libvirtd skips it`, `sudo chmod 0755 ${h.target ?? HOOK_PATH}`);
  }
  if (libvirtd.length === 0) {
    return warn('hook', `${HOOK_PATH} is installed; libvirtd is not running`, 'sudo systemctl start libvirtd (it finds the hook when it starts)');
  }
  const stale = libvirtd.filter((p) => p.startedAtMs !== null && !hooksSeenAtStart(p.startedAtMs, h, hook.otherHooks));
  if (stale.length) {
    const p = stale[0];
    const unit = p.name === 'virtqemud' ? 'virtqemud' : 'libvirtd';
    return fail(
      'hook',
      `${HOOK_PATH} is installed, but ${p.name} (pid ${p.pid}) started before it and had no qemu hook then, so it never calls it`,
      `sudo systemctl restart ${unit} (once; running VMs keep running)`,
    );
  }
  const unknown = libvirtd.find((p) => p.startedAtMs === null);
  if (unknown) {
    return warn('hook', `${HOOK_PATH} is installed; when ${unknown.name} (pid ${unknown.pid}) started cannot be read`, 'if gpu-hookd is never called, restart libvirtd once: sudo systemctl restart libvirtd');
  }
  return ok('hook', `${HOOK_PATH} is installed and ${libvirtd.map((p) => p.name).join(', ')} started after it`);
}

/** libvirtd scans for hooks only at start: it calls ours if ours, or any other qemu hook, was
 *  there then (once it knows of hooks, it reads the directory again at every call). */
function hooksSeenAtStart(startedAtMs: number, ours: HookEntry, others: HookEntry[]): boolean {
  return [ours, ...others].some((entry) => entry.changedAtMs <= startedAtMs);
}

export function checkDaemon(facts: DaemonFacts): Check {
  switch (facts.state) {
    case 'running':
      return ok('daemon', `gpu-hookd ${facts.version} is running on ${facts.bus}: ${facts.status}`);
    case 'activatable':
      return warn('daemon', `gpu-hookd is not running; ${facts.bus} starts it at the first VM start`, 'sudo systemctl enable --now gpu-hookd (to have it from boot on)');
    case 'stopped':
      return fail('daemon', `gpu-hookd is not running on ${facts.bus}, and the bus cannot start it`, 'sudo systemctl enable --now gpu-hookd (status: systemctl status gpu-hookd; log: journalctl -u gpu-hookd)');
    case 'unreachable':
      return fail('daemon', `gpu-hookd cannot be asked: ${facts.error}`, 'start the D-Bus system bus (sudo systemctl start dbus), or pass --bus ADDRESS for another bus');
  }
}

export function installChecks(config: ConfigFacts, hook: HookFacts, libvirtd: LibvirtdProcess[], daemon: DaemonFacts): Check[] {
  return [checkConfig(config), checkHook(hook, libvirtd), checkDaemon(daemon)];
}
