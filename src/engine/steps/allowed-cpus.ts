// Confines a systemd slice or scope (system.slice, user.slice, init.scope) to some CPUs with the
// AllowedCPUs property, at runtime only (a reboot forgets it). The unit's value before is in the
// spec, so undo writes back exactly that, including "" (every CPU).

import { withTimeout, formatMs } from '../../host/host-io';
import { CpuError } from '../../cpu/cpu-error';
import { cpusPhrase, sameCpus } from '../../cpu/cpu-list';
import type { StepContext, StepExecutor } from '../step-executor';

declare module '../step-spec' {
  interface StepSpecMap {
    /** Set AllowedCPUs of `unit` to `cpus` ([] = every CPU) with runtime=true; undo sets `previous`. */
    'allowed-cpus': { unit: string; cpus: number[]; previous: number[] };
  }
}

/** AllowedCPUs of systemd units, as CPU numbers; [] stands for "every CPU" both ways. */
export interface AllowedCpusAccess {
  read(unit: string): Promise<number[]>;
  /** SetUnitProperties(unit, runtime=true, [("AllowedCPUs", ay)]). */
  write(unit: string, cpus: readonly number[]): Promise<void>;
}

function describeAllowed(cpus: readonly number[]): string {
  return cpus.length === 0 ? 'every CPU' : cpusPhrase(cpus);
}

export function allowedCpusStep(systemd: AllowedCpusAccess): StepExecutor<'allowed-cpus'> {
  const bounded = <T>(ctx: StepContext, unit: string, what: string, work: Promise<T>): Promise<T> =>
    withTimeout(work, ctx.timeouts.writeMs, () => new CpuError('Timeout', `systemd did not answer ${what} of ${unit} within ${formatMs(ctx.timeouts.writeMs)}`));
  const read = (ctx: StepContext, unit: string): Promise<number[]> => bounded(ctx, unit, 'the read of AllowedCPUs', systemd.read(unit));
  const write = (ctx: StepContext, unit: string, cpus: number[]): Promise<void> => bounded(ctx, unit, 'SetUnitProperties', systemd.write(unit, cpus));

  return {
    describe: (s) => `confine ${s.unit} to ${describeAllowed(s.cpus)}`,

    // SetUnitProperties of the same value is a no-op for systemd: no read first, one round trip saved.
    do: (ctx, s) => write(ctx, s.unit, s.cpus),

    async verify(ctx, s) {
      const now = await read(ctx, s.unit);
      if (!sameCpus(now, s.cpus)) throw new Error(`AllowedCPUs of ${s.unit} reads ${describeAllowed(now)} instead of ${describeAllowed(s.cpus)}`);
    },

    async undo(ctx, s) {
      if (!sameCpus(await read(ctx, s.unit), s.previous)) await write(ctx, s.unit, s.previous);
    },

    async undone(ctx, s) {
      const now = await read(ctx, s.unit);
      if (!sameCpus(now, s.previous)) throw new Error(`AllowedCPUs of ${s.unit} reads ${describeAllowed(now)} instead of ${describeAllowed(s.previous)}`);
    },
  };
}
