// The facts the doctor's installation checks need: the libvirt hooks below the root (files under
// /etc, read with fs: they are not kernel state), libvirtd's processes and start times (/proc,
// through HostIO), and whether the config file loads. All reads.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../daemon/config';
import type { HostIO } from '../host/host-io';
import { resolveUnderRoot } from '../host/host-io';
import { HOOK_PATH, type ConfigFacts, type HookEntry, type HookFacts, type LibvirtdProcess } from './install-checks';

const LIBVIRT_QEMU_HOOK = '/etc/libvirt/hooks/qemu';
const LIBVIRTD_NAMES = ['libvirtd', 'virtqemud'];
/** USER_HZ, the unit of /proc/PID/stat's start time: 100 on every Linux architecture gpu-hookd runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
/** Our hook says which bus name it calls; anything else at our path is someone else's file. */
const HOOK_MARKER = 'org.gpuhookd1';

export function readHookFacts(root: string): HookFacts {
  const hookDir = path.dirname(HOOK_PATH);
  const others: HookEntry[] = [];
  const qemuHook = entry(root, LIBVIRT_QEMU_HOOK);
  if (qemuHook && isExecutable(root, LIBVIRT_QEMU_HOOK)) others.push(qemuHook);
  for (const name of listDir(resolveUnderRoot(root, hookDir))) {
    const p = `${hookDir}/${name}`;
    if (p === HOOK_PATH) continue;
    const e = entry(root, p);
    if (e && isExecutable(root, p)) others.push(e);
  }
  const ours = entry(root, HOOK_PATH);
  if (!ours) return { hook: null, otherHooks: others };
  const abs = resolveUnderRoot(root, HOOK_PATH);
  let target: string | null = null;
  try {
    target = fs.readlinkSync(abs);
  } catch {
    // not a symlink: the hook is the file itself
  }
  return {
    hook: { ...ours, target, executable: isExecutable(root, HOOK_PATH), ours: readHead(root, HOOK_PATH).includes(HOOK_MARKER) },
    otherHooks: others,
  };
}

/** libvirtd/virtqemud processes with their start times, from /proc. */
export function readLibvirtdProcesses(io: HostIO): LibvirtdProcess[] {
  const bootMs = bootTimeMs(io);
  const found: LibvirtdProcess[] = [];
  for (const name of io.list('proc')) {
    if (!/^\d+$/.test(name)) continue;
    const comm = readOrUndefined(io, `proc/${name}/comm`);
    if (comm === undefined || !LIBVIRTD_NAMES.includes(comm)) continue;
    const ticks = startTicks(readOrUndefined(io, `proc/${name}/stat`));
    found.push({ pid: Number(name), name: comm, startedAtMs: ticks === null || bootMs === null ? null : bootMs + (ticks * 1000) / CLOCK_TICKS_PER_SECOND });
  }
  return found.sort((a, b) => a.pid - b.pid);
}

/** Field 22 of /proc/PID/stat (start time in clock ticks after boot). The command name (field 2)
 *  may hold spaces and parentheses, so fields are counted after its last ')'. */
export function startTicks(stat: string | undefined): number | null {
  if (stat === undefined) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  return Number.isFinite(ticks) ? ticks : null;
}

export function readConfigFacts(configPath: string): ConfigFacts {
  try {
    const config = loadConfig({ path: configPath });
    return { path: configPath, found: config.file.found, config };
  } catch (e) {
    if (e instanceof ConfigError) return { path: configPath, found: fs.existsSync(configPath), error: e.message };
    throw e;
  }
}

function bootTimeMs(io: HostIO): number | null {
  const line = (readOrUndefined(io, 'proc/stat') ?? '').split('\n').find((l) => l.startsWith('btime '));
  const seconds = line ? Number(line.slice(6).trim()) : NaN;
  return Number.isFinite(seconds) ? seconds * 1000 : null;
}

/** A process may exit between the listing and the read: its files then vanish or refuse. */
function readOrUndefined(io: HostIO, rel: string): string | undefined {
  try {
    return io.readText(rel);
  } catch {
    return undefined;
  }
}

function entry(root: string, p: string): HookEntry | null {
  try {
    return { path: p, changedAtMs: fs.lstatSync(resolveUnderRoot(root, p)).ctimeMs };
  } catch {
    return null;
  }
}

/** Executable as libvirt judges it (it follows links); an absolute link target stays below the root. */
function isExecutable(root: string, p: string): boolean {
  try {
    const stat = fs.statSync(resolveInRoot(root, p));
    return stat.isFile() && (stat.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function readHead(root: string, p: string): string {
  try {
    const fd = fs.openSync(resolveInRoot(root, p), 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** The path with a symlink's absolute target taken below the root (a mounted image, a test tree). */
function resolveInRoot(root: string, p: string): string {
  const abs = resolveUnderRoot(root, p);
  let target: string;
  try {
    target = fs.readlinkSync(abs);
  } catch {
    return abs;
  }
  return path.isAbsolute(target) ? resolveUnderRoot(root, target) : path.resolve(path.dirname(abs), target);
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}
