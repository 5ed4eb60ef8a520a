// How gpu-hookd reaches host processes: procfs reads through a HostIO, setting a thread's allowed
// CPUs, and signals. The kernel has no file for affinity (it is the sched_setaffinity syscall), so on
// a real host it runs util-linux's `taskset -p -c LIST TID` (present on every distribution; a syscall
// from Node would need a native addon for one call per thread). Like modprobe, taskset and kill act on
// the running kernel whatever the root says, so they are only used when the root is "/". Which
// ProcessAccess a process uses is chosen where it is put together (the daemon's entry; a test's or
// the demo's entry wires the simulator's).

import { execFile } from 'node:child_process';
import { describeErrno, formatMs, type HostIO } from '../host/host-io';
import { cpusPhrase, formatCpuList } from './cpu-list';

export interface ProcessAccess {
  /** Reads proc/<pid>/... and run/libvirt/qemu/<vm>.pid. */
  readonly io: HostIO;
  /** Sets the CPUs thread `tid` of process `pid` may run on; throws ThreadAffinityError. */
  setAffinity(pid: number, tid: number, cpus: readonly number[], timeoutMs: number): Promise<void>;
  /** Sends `signal` to process `pid`; a process already gone throws an error with code ESRCH. */
  signal(pid: number, signal: NodeJS.Signals): void;
}

export class ThreadAffinityError extends Error {
  constructor(
    readonly tid: number,
    readonly cpus: readonly number[],
    readonly code: string,
    detail?: string,
  ) {
    super(`setting the CPUs of thread ${tid} to ${cpusPhrase(cpus)} failed: ${detail ?? describeErrno(code)}`);
    this.name = 'ThreadAffinityError';
  }
}

/** The running kernel's processes: taskset and kill, refused for any root but "/". */
export function hostProcessAccess(io: HostIO): ProcessAccess {
  return {
    io,
    setAffinity: (_pid, tid, cpus, timeoutMs) => tasksetAffinity(io.root, tid, cpus, timeoutMs),
    signal: (pid, signal) => {
      if (io.root !== '/') throw new Error(`refusing to signal PID ${pid}: the host root is ${io.root}, and its processes are not this machine's`);
      process.kill(pid, signal);
    },
  };
}

const TASKSET_ERRORS: [RegExp, string][] = [
  [/No such process/, 'ESRCH'],
  [/Invalid argument/, 'EINVAL'],
  [/Operation not permitted/, 'EPERM'],
];

/** `taskset -p -c LIST TID`: the syscall sched_setaffinity(TID) through util-linux. */
export function tasksetAffinity(root: string, tid: number, cpus: readonly number[], timeoutMs: number): Promise<void> {
  if (root !== '/') {
    return Promise.reject(new ThreadAffinityError(tid, cpus, 'EPERM', `taskset acts on the running kernel, so it is only used when the host root is "/" (it is ${root})`));
  }
  if (!Number.isInteger(tid) || tid <= 0 || cpus.length === 0) return Promise.reject(new ThreadAffinityError(tid, cpus, 'EINVAL'));
  return new Promise((resolve, reject) => {
    execFile('taskset', ['-p', '-c', formatCpuList(cpus), String(tid)], { timeout: timeoutMs }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if ((err as { killed?: boolean }).killed) {
        return reject(new ThreadAffinityError(tid, cpus, 'ETIMEDOUT', `taskset did not return within ${formatMs(timeoutMs)}`));
      }
      const text = String(stderr).trim();
      const code = TASKSET_ERRORS.find(([re]) => re.test(text))?.[1] ?? 'EIO';
      reject(new ThreadAffinityError(tid, cpus, code, text === '' ? undefined : `${describeErrno(code)} (${text.split('\n').pop()})`));
    });
  });
}
