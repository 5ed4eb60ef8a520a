// The one door to the kernel. Every path under /sys, /proc and /dev is built from one root, so the
// same code runs on a real host (root "/"), on the simulated host (a temporary directory) and in
// the real-kernel lab. Reads are synchronous (sysfs attributes answer at once); writes are
// asynchronous and bounded, because some (unbind of a busy driver) can block in the kernel forever.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { askKernelConsoleMap, type ConsoleMap } from './fbcon-map';
import { askKernelGroupStatus, type VfioGroupStatus } from './vfio-group-status';

export interface WriteOptions {
  /** Give up waiting after this long; the write itself may still complete later in the kernel. */
  timeoutMs?: number;
  /**
   * Write in the calling thread, without the timeout: only for a write the kernel finishes at once,
   * which the caller knows (a driver_override the step just read under the same device lock, a probe
   * for vfio-pci). Saves the thread-pool round trip. The simulator ignores it.
   */
  inPlace?: boolean;
}

export interface HostIO {
  /** The directory that stands for "/" (a real host: "/"). */
  readonly root: string;
  /** Absolute path of a root-relative path such as "sys/bus/pci/devices". */
  abs(rel: string): string;
  /** Trimmed file content, or undefined when the file does not exist. */
  readText(rel: string): string | undefined;
  /** Last component of a symlink's target ("vfio-pci" for .../driver), or undefined. */
  readLinkName(rel: string): string | undefined;
  /** Full symlink target, or undefined. */
  readLink(rel: string): string | undefined;
  /** Raw bytes of a binary attribute (PCI config space) from `offset`, or undefined when unreadable. */
  readBytes(rel: string, offset: number, length: number): Buffer | undefined;
  /** Directory entries, sorted; [] when the directory does not exist. */
  list(rel: string): string[];
  exists(rel: string): boolean;
  /** Writes value to an existing attribute; throws HostWriteError / HostTimeoutError. */
  write(rel: string, value: string, options?: WriteOptions): Promise<void>;
  /** Loads a kernel module (and its dependencies). */
  loadModule(name: string, options?: WriteOptions): Promise<void>;
  /** Unloads a kernel module; throws when it is in use. */
  unloadModule(name: string, options?: WriteOptions): Promise<void>;
  /** The kernel's VFIO_GROUP_GET_STATUS for /dev/vfio/<group>; absent on a HostIO that cannot ask. */
  vfioGroupStatus?(group: string): VfioGroupStatus;
  /** The framebuffers fbcon's consoles are mapped to (FBIOGET_CON2FBMAP); absent on a HostIO that cannot ask. */
  consoleMap?(): ConsoleMap;
}

export const DEFAULT_WRITE_TIMEOUT_MS = 10_000;

const ERRNO_MEANING: Record<string, string> = {
  EBUSY: 'the device or driver is busy',
  ENODEV: 'no such device for this driver',
  EINVAL: 'the kernel rejected the value',
  EACCES: 'permission denied (gpu-hookd must run as root)',
  EPERM: 'operation not permitted (gpu-hookd must run as root)',
  ENOENT: 'the file does not exist (device gone or driver not loaded)',
  EEXIST: 'it is already there',
  EIO: 'input/output error',
  EROFS: 'the file system is read-only',
  ENOTTY: 'the device does not support it',
  EAGAIN: 'the device is locked by another operation, try again',
};

export function describeErrno(code: string | undefined): string {
  if (!code) return 'unknown error';
  return `${code} (${ERRNO_MEANING[code] ?? 'system error'})`;
}

/** A write the kernel refused: names the path, the value and the errno in one sentence. */
export class HostWriteError extends Error {
  constructor(
    readonly path: string,
    readonly value: string,
    readonly code: string,
  ) {
    super(`writing ${JSON.stringify(value.trimEnd())} to ${path} failed: ${describeErrno(code)}`);
    this.name = 'HostWriteError';
  }
}

/** A write or command that did not return in time. The process goes on; the kernel may finish later. */
export class HostTimeoutError extends Error {
  constructor(
    readonly path: string,
    readonly value: string,
    readonly timeoutMs: number,
  ) {
    super(
      `writing ${JSON.stringify(value.trimEnd())} to ${path} did not return within ${formatMs(timeoutMs)}: ` +
        `the kernel is still waiting for the device to be released`,
    );
    this.name = 'HostTimeoutError';
  }
}

export class ModuleError extends Error {
  constructor(
    readonly module: string,
    readonly action: 'load' | 'unload',
    readonly detail: string,
    readonly code: string = action === 'unload' ? 'EBUSY' : 'ENOENT',
  ) {
    super(`${action === 'load' ? 'loading' : 'unloading'} kernel module ${module} failed: ${detail}`);
    this.name = 'ModuleError';
  }
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** Path text that path.join would rewrite (".", "..", "//") or that must never reach the kernel (NUL). */
const NEEDS_CARE = /(?:^|\/)\.\.?(?:\/|$)|\/\/|\0/;

/** Resolves a root-relative path, refusing anything that could climb out of the root. */
export function resolveUnderRoot(root: string, rel: string): string {
  const clean = rel.replace(/^\/+/, '');
  // Every kernel read builds its path here: on the real root a clean path needs no path.join.
  if (root === '/' && !NEEDS_CARE.test(clean)) return `/${clean}`;
  if (clean.split('/').some((part) => part === '..') || clean.includes('\0')) {
    throw new Error(`refusing path ${JSON.stringify(rel)}: it leaves the host root`);
  }
  return path.join(root, clean);
}

/** Races a promise against a timer; the timer never keeps the process alive. */
export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** HostIO over the real file system below `root`. */
export class SysfsHostIO implements HostIO {
  constructor(readonly root: string = '/') {}

  abs(rel: string): string {
    return resolveUnderRoot(this.root, rel);
  }

  readText(rel: string): string | undefined {
    try {
      return fs.readFileSync(this.abs(rel), 'utf8').trim();
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  readLink(rel: string): string | undefined {
    try {
      return fs.readlinkSync(this.abs(rel));
    } catch (e) {
      if (isMissing(e) || (e as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
      throw e;
    }
  }

  readLinkName(rel: string): string | undefined {
    const target = this.readLink(rel);
    return target === undefined ? undefined : path.basename(target);
  }

  readBytes(rel: string, offset: number, length: number): Buffer | undefined {
    let fd: number | undefined;
    try {
      fd = fs.openSync(this.abs(rel), 'r');
      const buf = Buffer.alloc(length);
      const n = fs.readSync(fd, buf, 0, length, offset);
      return buf.subarray(0, n);
    } catch {
      return undefined;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  list(rel: string): string[] {
    try {
      return fs.readdirSync(this.abs(rel)).sort();
    } catch (e) {
      if (isMissing(e)) return [];
      throw e;
    }
  }

  exists(rel: string): boolean {
    return fs.existsSync(this.abs(rel));
  }

  write(rel: string, value: string, options: WriteOptions = {}): Promise<void> {
    const target = this.abs(rel);
    const timeoutMs = options.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
    // Write-only: sysfs refuses to open a write-only attribute (unbind, bind, drivers_probe) for
    // reading, even for root (EACCES). No O_CREAT: a missing attribute fails with ENOENT as on sysfs.
    // Only the write itself can block (the kernel takes the device lock there, never at open or
    // close), so only it runs in the thread pool.
    const fail = (e: unknown): HostWriteError => new HostWriteError(target, value, (e as NodeJS.ErrnoException).code ?? 'EIO');
    let fd: number;
    try {
      fd = fs.openSync(target, fs.constants.O_WRONLY);
    } catch (e) {
      return Promise.reject(fail(e));
    }
    if (options.inPlace) return writeInPlace(fd, value, fail);
    const work = new Promise<void>((resolve, reject) => {
      fs.write(fd, value, 0, (writeError: unknown) => {
        const error = closeAfterWrite(fd, writeError);
        if (error) reject(fail(error));
        else resolve();
      });
    });
    return withTimeout(work, timeoutMs, () => new HostTimeoutError(target, value, timeoutMs));
  }

  loadModule(name: string, options: WriteOptions = {}): Promise<void> {
    return this.modprobe(name, ['--', name], 'load', options);
  }

  unloadModule(name: string, options: WriteOptions = {}): Promise<void> {
    return this.modprobe(name, ['-r', '--', name], 'unload', options);
  }

  vfioGroupStatus(group: string): VfioGroupStatus {
    if (!/^\d{1,10}$/.test(group)) return { answer: 'unavailable', why: `${JSON.stringify(group)} is not an IOMMU group number` };
    // The ioctl reaches the running kernel whatever our root says: only ask when the root is "/".
    if (this.root !== '/') return { answer: 'unavailable', why: `the host root is ${this.root}, not the running kernel's` };
    return askKernelGroupStatus(this.abs(`dev/vfio/${group}`));
  }

  consoleMap(): ConsoleMap {
    if (this.root !== '/') return { answer: 'unavailable', why: `the host root is ${this.root}, not the running kernel's` };
    // The map is fbcon's own: any registered framebuffer's device answers for every console.
    const fb = this.list('sys/class/graphics').find((n) => /^fb\d+$/.test(n));
    if (fb === undefined) return { answer: 'map', framebuffers: [] };
    return askKernelConsoleMap(this.abs(`dev/${fb}`));
  }

  private modprobe(name: string, args: string[], action: 'load' | 'unload', options: WriteOptions): Promise<void> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
      return Promise.reject(new ModuleError(name, action, 'not a valid module name', 'EINVAL'));
    }
    if (this.root !== '/') {
      // modprobe acts on the running kernel, whatever our root says: never let a test reach it.
      return Promise.reject(new ModuleError(name, action, `modprobe is only used when the host root is "/" (root is ${this.root})`, 'EPERM'));
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      execFile('modprobe', args, { timeout: timeoutMs }, (err, _stdout, stderr) => {
        if (!err) return resolve();
        const detail = String(stderr).trim().split('\n').pop() || err.message;
        reject(new ModuleError(name, action, detail, action === 'unload' ? 'EBUSY' : 'ENOENT'));
      });
    });
  }
}

function writeInPlace(fd: number, value: string, fail: (e: unknown) => HostWriteError): Promise<void> {
  let writeError: unknown;
  try {
    fs.writeSync(fd, value);
  } catch (e) {
    writeError = e;
  }
  const error = closeAfterWrite(fd, writeError);
  return error ? Promise.reject(fail(error)) : Promise.resolve();
}

/** Closes `fd` after a write: the write's error if it failed, else the close's (sysfs may report there). */
function closeAfterWrite(fd: number, writeError: unknown): unknown {
  try {
    fs.closeSync(fd);
  } catch (closing) {
    return writeError ?? closing;
  }
  return writeError;
}

export function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
