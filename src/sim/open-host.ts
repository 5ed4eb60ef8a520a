// The host a test, the demo or the simulated daemon works on: a root holding .gpu-hookd-sim/ is the
// simulator (a SimHostIO re-attached to its tree, so a second process or a restarted daemon sees the
// same simulated kernel, and its processes are signalled and pinned through the emulator); any other
// root is a real kernel's /sys, /proc and /dev below it. Production entries never come here: they
// wire SysfsHostIO and hostProcessAccess themselves.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostProcessAccess, ThreadAffinityError, tasksetAffinity, type ProcessAccess } from '../cpu/process-access';
import { SysfsHostIO, type HostIO } from '../host/host-io';
import { KernelError } from './kernel-context';
import { MARKER_DIR } from './sim-state';
import { SimHostIO } from './sim-host-io';
import { isAdoptedProcess, signalSimProcess } from './sim-processes';
import { setSimThreadAffinity } from './thread-affinity';

export function openHostIO(root: string): HostIO {
  if (fs.existsSync(path.join(root, MARKER_DIR))) return new SimHostIO(root);
  return new SysfsHostIO(root);
}

/** A HostIO and the process access that fits it. */
export function openHost(root: string): { io: HostIO; processes: ProcessAccess } {
  const io = openHostIO(root);
  return { io, processes: io instanceof SimHostIO ? simProcessAccess(io) : hostProcessAccess(io) };
}

/**
 * The simulated host's processes: the emulator pins and signals them, except a real process a test
 * adopted into it (sim-processes.ts: a libvirt e2e test's QEMU), which is the test's own and gets
 * the real syscall and real signals.
 */
export function simProcessAccess(io: SimHostIO): ProcessAccess {
  return {
    io,
    setAffinity: async (pid, tid, cpus, timeoutMs) => {
      if (isAdoptedProcess(io.root, pid)) return tasksetAffinity('/', tid, cpus, timeoutMs);
      try {
        setSimThreadAffinity(io.root, pid, tid, cpus);
      } catch (e) {
        if (e instanceof KernelError) throw new ThreadAffinityError(tid, cpus, e.code);
        throw e;
      }
    },
    signal: (pid, signal) => {
      if (signal !== 'SIGTERM' && signal !== 'SIGKILL') throw new Error(`the simulated host delivers SIGTERM and SIGKILL only, not ${signal}`);
      signalSimProcess(io.root, pid, signal);
    },
  };
}
