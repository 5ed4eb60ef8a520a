// How gpu-hookd reaches a VM's QEMU threads: procfs reads through a HostIO, and setting a thread's
// allowed CPUs. The kernel has no file for the latter (it is the sched_setaffinity syscall), so on a
// real host it runs util-linux's `taskset -p -c LIST TID` (present on every distribution; a syscall
// from Node would need a native addon for one call per thread). On the simulated host the
// simulator's emulation takes its place. Like modprobe, taskset acts on the running kernel whatever
// the root says, so it is only used when the root is "/".

import { execFile } from 'node:child_process';
import { describeErrno, formatMs, type HostIO } from '../host/host-io';
import { KernelError } from '../sim/kernel-context';
import { isAdoptedProcess } from '../sim/sim-processes';
import { setSimThreadAffinity } from '../sim/thread-affinity';
import { cpusPhrase, formatCpuList } from './cpu-list';

export interface ProcessAccess {
  /** Reads proc/<pid>/... and run/libvirt/qemu/<vm>.pid. */
  readonly io: HostIO;
  /** Sets the CPUs thread `tid` of process `pid` may run on; throws ThreadAffinityError. */
  setAffinity(pid: number, tid: number, cpus: readonly number[], timeoutMs: number): Promise<void>;
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

/**
 * The access that fits a HostIO: taskset for the root "/", the simulator's emulation on a simulated
 * host, except for a real process a test adopted into it (src/sim/sim-processes.ts: a libvirt e2e
 * test's QEMU): that one is the test's own and gets the real syscall, as it gets real signals.
 */
export function processAccessFor(io: HostIO): ProcessAccess {
  if (!io.simulated) return { io, setAffinity: (_pid, tid, cpus, timeoutMs) => tasksetAffinity(io.root, tid, cpus, timeoutMs) };
  return {
    io,
    setAffinity: async (pid, tid, cpus, timeoutMs) => {
      if (isAdoptedProcess(io.root, pid)) return tasksetAffinity('/', tid, cpus, timeoutMs);
      simAffinity(io.root, pid, tid, cpus);
    },
  };
}

function simAffinity(root: string, pid: number, tid: number, cpus: readonly number[]): void {
  try {
    setSimThreadAffinity(root, pid, tid, cpus);
  } catch (e) {
    if (e instanceof KernelError) throw new ThreadAffinityError(tid, cpus, e.code);
    throw e;
  }
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
