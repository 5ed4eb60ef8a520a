// The cpufreq governor of one CPU ("performance" while a VM runs on it). The governor before is in
// the spec, so undo writes exactly that back.

import type { HostIO } from '../../host/host-io';
import type { StepContext, StepExecutor } from '../step-executor';
import type { StepOf } from '../step-spec';

declare module '../step-spec' {
  interface StepSpecMap {
    /** Write `governor` to cpu<cpu>/cpufreq/scaling_governor; undo writes `previous`. */
    'cpu-governor': { cpu: number; governor: string; previous: string };
  }
}

export const governorPath = (cpu: number): string => `sys/devices/system/cpu/cpu${cpu}/cpufreq/scaling_governor`;

export function readGovernor(io: HostIO, cpu: number): string | undefined {
  return io.readText(governorPath(cpu));
}

async function setGovernor(ctx: StepContext, cpu: number, governor: string): Promise<void> {
  if (readGovernor(ctx.io, cpu) === governor) return;
  await ctx.io.write(governorPath(cpu), governor, { timeoutMs: ctx.timeouts.writeMs });
}

export const cpuGovernorStep: StepExecutor<'cpu-governor'> = {
  describe: (s: StepOf<'cpu-governor'>) => `set the cpufreq governor of cpu${s.cpu} to ${s.governor}`,

  do: (ctx, s) => setGovernor(ctx, s.cpu, s.governor),

  async verify(ctx, s) {
    const now = readGovernor(ctx.io, s.cpu);
    if (now !== s.governor) throw new Error(`the cpufreq governor of cpu${s.cpu} reads ${now ?? '(nothing)'} instead of ${s.governor}`);
  },

  async undo(ctx, s) {
    // A CPU that went offline has no cpufreq directory: nothing to give back until it returns.
    if (readGovernor(ctx.io, s.cpu) === undefined) return;
    await setGovernor(ctx, s.cpu, s.previous);
  },

  async undone(ctx, s) {
    const now = readGovernor(ctx.io, s.cpu);
    if (now !== undefined && now !== s.previous) throw new Error(`the cpufreq governor of cpu${s.cpu} reads ${now} instead of ${s.previous}`);
  },
};
