// Starting, watching and ending the real processes the e2e tests need. A process is only ever
// ended by the PID we recorded when we started it, and only while its name is still the one we
// started (a recycled PID belongs to someone else). /proc is only read here, never written.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  cwd?: string;
  /** The command is killed (by its PID) and the call fails after this long. */
  timeoutMs?: number;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/** Runs a command to completion; a non-zero exit is a result, not an error. */
export function runCommand(cmd: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawnTracked(cmd, args, { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms and was killed; stderr so far: ${stderr.trim()}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${cmd}: ${e.message}; is it installed?`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}

/** Every child started through this module, by PID, with what it is (for the exit safety net). */
const tracked = new Map<number, string>();

/** Spawns a child and tracks its PID until it exits; the test process kills what is left when it exits. */
export function spawnTracked(cmd: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(cmd, args, options);
  const pid = child.pid;
  if (pid !== undefined) {
    tracked.set(pid, cmd);
    child.on('exit', () => tracked.delete(pid));
  }
  return child;
}

/** PIDs of children started through this module that have not exited yet. */
export function trackedPids(): number[] {
  return [...tracked.keys()];
}

process.on('exit', () => {
  for (const pid of tracked.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** The process's command name (/proc/PID/comm), or undefined when there is no such live process. */
export function processName(pid: number): string | undefined {
  const stat = readProc(`${pid}/stat`);
  // A zombie has exited; it only waits for its parent to reap it.
  if (stat === undefined || processState(stat) === 'Z') return undefined;
  return readProc(`${pid}/comm`)?.trim();
}

export function isRunning(pid: number): boolean {
  return processName(pid) !== undefined;
}

/** The state letter from a /proc/PID/stat line; the command name in it may hold spaces and parentheses. */
export function processState(statLine: string): string {
  return statLine.slice(statLine.lastIndexOf(')') + 2, statLine.lastIndexOf(')') + 3);
}

/** PIDs of live processes whose command name is exactly `name`. */
export function findPidsByName(name: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => processName(pid) === name);
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/** Polls `check` until it returns a value other than undefined/false, within a bound. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface StopOptions {
  /** The command name the PID must still have; any other process at that PID is left alone. */
  expectName: string;
  /** How long SIGTERM gets before SIGKILL. */
  graceMs?: number;
}

/** Ends one process by PID: SIGTERM, then SIGKILL after the grace time; resolves once it is gone. */
export async function stopPid(pid: number, options: StopOptions): Promise<void> {
  if (processName(pid) !== options.expectName) return;
  signalPid(pid, 'SIGTERM');
  try {
    await waitFor(`exit of ${options.expectName} (pid ${pid})`, () => !isRunning(pid), { timeoutMs: options.graceMs ?? 5_000 });
  } catch {
    signalPid(pid, 'SIGKILL');
    await waitFor(`exit of ${options.expectName} (pid ${pid}) after SIGKILL`, () => !isRunning(pid), { timeoutMs: 5_000 });
  }
}

/** Sends a signal by PID; a process that is already gone is not an error. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** Reads the PID a daemon wrote to its pidfile, waiting for the file to appear. */
export function waitForPidFile(pidFile: string, what: string, options: WaitOptions = {}): Promise<number> {
  return waitFor(`${what} writing its pidfile ${pidFile}`, () => {
    const pid = Number(readFileOrUndefined(pidFile)?.trim());
    return Number.isInteger(pid) && pid > 0 && isRunning(pid) ? pid : undefined;
  }, options);
}

function readProc(rel: string): string | undefined {
  return readFileOrUndefined(`/proc/${rel}`);
}

export function readFileOrUndefined(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
