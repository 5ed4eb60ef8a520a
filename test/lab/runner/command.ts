// Host-side processes of the lab (apt-get, dpkg, depmod, cpio, QEMU). Every one runs with a bound;
// a process that outlives it is killed by its own PID, never by name.

import { spawn } from 'node:child_process';

/** The lab could not be prepared or run: one sentence saying what failed and what to do. */
export class LabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabError';
  }
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  wallMs: number;
}

export interface CommandOptions {
  timeoutMs: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes written to the child's stdin (then closed); stdin is /dev/null otherwise. */
  input?: Buffer | string;
  /** Sees each chunk of stdout as it arrives (to time a child's first output). */
  onStdout?: (chunk: Buffer) => void;
}

export interface StartedCommand {
  /** The child's PID, for a signal while it runs; undefined when it could not be started. */
  pid: number | undefined;
  result: Promise<CommandResult>;
}

const live = new Set<number>();

// A test run that ends early (mocha --exit, Ctrl-C) must not leave a QEMU behind.
process.on('exit', () => {
  for (const pid of live) killQuietly(pid);
});

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Runs a program and collects its output; kills it by PID when it outlives timeoutMs. */
export function runBounded(program: string, args: string[], options: CommandOptions): Promise<CommandResult> {
  return startBounded(program, args, options).result;
}

/** runBounded for a child that runs alongside the caller: its PID now, its result when it ends. */
export function startBounded(program: string, args: string[], options: CommandOptions): StartedCommand {
  let pid: number | undefined;
  const result = new Promise<CommandResult>((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout?.on('data', (b: Buffer) => {
      out.push(b);
      options.onStdout?.(b);
    });
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    if (options.input !== undefined) child.stdin?.end(options.input);
    pid = child.pid;
    if (pid !== undefined) live.add(pid);
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killQuietly(pid);
    }, options.timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (pid !== undefined) live.delete(pid);
      reject(
        e.code === 'ENOENT'
          ? new LabError(`${program} is not installed: install the lab's apt packages (docs/lab.md) and run again`)
          : e,
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) live.delete(pid);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        wallMs: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
  });
  return { pid, result };
}

/** Like runBounded, but a timeout or a non-zero exit is a LabError naming the command and its last words. */
export async function runChecked(program: string, args: string[], options: CommandOptions): Promise<string> {
  const r = await runBounded(program, args, options);
  if (r.timedOut) {
    throw new LabError(`${program} ${args.join(' ')} did not finish within ${options.timeoutMs} ms and was killed`);
  }
  if (r.code !== 0) {
    throw new LabError(`${program} ${args.join(' ')} failed (exit ${r.code ?? r.signal}): ${lastLine(r.stderr || r.stdout)}`);
  }
  return r.stdout;
}

export function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] || '(no output)';
}
