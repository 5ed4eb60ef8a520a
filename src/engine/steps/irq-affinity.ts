// Steers one interrupt to other CPUs (away from a VM's) through /proc/irq/<n>/smp_affinity_list.
// The kernel refuses to move some interrupts (managed or per-CPU ones) with EIO: those stay where
// they are, which is no failure of the VM's start. An interrupt whose directory went away (its
// device freed it) has nothing left to steer or to give back.

import { HostWriteError } from '../../host/host-io';
import type { HostIO } from '../../host/host-io';
import { cpusPhrase, formatCpuList, parseCpuList, sameCpus } from '../../cpu/cpu-list';
import type { StepContext, StepExecutor } from '../step-executor';

declare module '../step-spec' {
  interface StepSpecMap {
    /** Write `cpus` to /proc/irq/<irq>/smp_affinity_list; undo writes `previous`. */
    'irq-affinity': { irq: number; cpus: number[]; previous: number[] };
  }
}

export const irqAffinityPath = (irq: number): string => `proc/irq/${irq}/smp_affinity_list`;

/** The interrupt's allowed CPUs, or undefined when it has no affinity file (any more). */
export function readIrqAffinity(io: HostIO, irq: number): number[] | undefined {
  const text = io.readText(irqAffinityPath(irq));
  return text === undefined ? undefined : parseCpuList(text);
}

async function steer(ctx: StepContext, irq: number, cpus: number[]): Promise<void> {
  const now = readIrqAffinity(ctx.io, irq);
  if (now === undefined || sameCpus(now, cpus)) return;
  try {
    await ctx.io.write(irqAffinityPath(irq), formatCpuList(cpus), { timeoutMs: ctx.timeouts.writeMs });
  } catch (e) {
    if (!(e instanceof HostWriteError) || (e.code !== 'EIO' && e.code !== 'ENOENT')) throw e;
    ctx.log.info({ irq, code: e.code }, `irq ${irq} stays on ${cpusPhrase(now)}: the kernel does not let it move`);
  }
}

export const irqAffinityStep: StepExecutor<'irq-affinity'> = {
  describe: (s) => `steer irq ${s.irq} to ${cpusPhrase(s.cpus)}`,

  do: (ctx, s) => steer(ctx, s.irq, s.cpus),

  async verify(ctx, s) {
    const now = readIrqAffinity(ctx.io, s.irq);
    // Unmoved (the kernel refused with EIO) reads back as before; anything else is not ours.
    if (now === undefined || sameCpus(now, s.cpus) || sameCpus(now, s.previous)) return;
    throw new Error(`irq ${s.irq}'s affinity reads ${cpusPhrase(now)} instead of ${formatCpuList(s.cpus)}`);
  },

  undo: (ctx, s) => steer(ctx, s.irq, s.previous),

  async undone(ctx, s) {
    const now = readIrqAffinity(ctx.io, s.irq);
    // Refused by the kernel (steer says so): it stays where it was, which is only right if do never moved it.
    if (now !== undefined && !sameCpus(now, s.previous)) throw new Error(`irq ${s.irq}'s affinity reads ${cpusPhrase(now)} instead of ${formatCpuList(s.previous)}`);
  },
};
