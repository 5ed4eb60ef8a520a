// Pins one thread of a VM's QEMU to host CPUs: a vCPU thread to its planned CPU, any other thread to
// the emulator CPUs. Undo gives the thread its previous CPUs while it still exists; once QEMU has
// exited there is nothing to give back. A thread is recognised by PID, TID and name together, so a
// TID reused by another process is never touched.

import { cpusPhrase, formatCpuList, sameCpus } from '../../cpu/cpu-list';
import type { ProcessAccess } from '../../cpu/process-access';
import { threadComm, threadCpus } from '../../cpu/qemu-threads';
import type { StepContext, StepExecutor } from '../step-executor';
import type { StepOf } from '../step-spec';

declare module '../step-spec' {
  interface StepSpecMap {
    /** Set the allowed CPUs of thread `tid` ("CPU 3/KVM") of QEMU `pid` to `cpus`; undo sets `previous`. */
    'pin-thread': { pid: number; tid: number; comm: string; cpus: number[]; previous: number[] };
  }
}

export function pinThreadStep(processes: ProcessAccess): StepExecutor<'pin-thread'> {
  const current = (s: StepOf<'pin-thread'>): number[] | undefined =>
    threadComm(processes.io, s.pid, s.tid) === s.comm ? threadCpus(processes.io, s.pid, s.tid) : undefined;
  const pin = async (ctx: StepContext, s: StepOf<'pin-thread'>, cpus: number[]): Promise<void> => {
    const now = current(s);
    if (now === undefined || sameCpus(now, cpus)) return;
    await processes.setAffinity(s.pid, s.tid, cpus, ctx.timeouts.writeMs);
  };

  return {
    describe: (s) => `pin thread ${s.tid} (${s.comm}) of QEMU ${s.pid} to ${cpusPhrase(s.cpus)}`,

    async do(ctx, s) {
      if (current(s) === undefined) throw new Error(`thread ${s.tid} (${s.comm}) of QEMU ${s.pid} is gone (did the VM stop?)`);
      await pin(ctx, s, s.cpus);
    },

    async verify(_ctx, s) {
      const now = current(s);
      if (now === undefined || !sameCpus(now, s.cpus)) {
        throw new Error(`thread ${s.tid} (${s.comm}) of QEMU ${s.pid} may run on ${now === undefined ? 'nothing: it is gone' : cpusPhrase(now)} instead of ${formatCpuList(s.cpus)}`);
      }
    },

    undo: (ctx, s) => pin(ctx, s, s.previous),

    async undone(_ctx, s) {
      // A thread that is gone took its pin with it.
      const now = current(s);
      if (now !== undefined && !sameCpus(now, s.previous)) throw new Error(`thread ${s.tid} (${s.comm}) of QEMU ${s.pid} may run on ${cpusPhrase(now)} instead of ${formatCpuList(s.previous)}`);
    },
  };
}
