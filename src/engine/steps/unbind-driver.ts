// Unbinding releases a function from its driver. Binding it back (the undo) needs driver_override
// restored first: an override naming another driver makes the kernel refuse the bind
// (docs/kernel-facts.md, Binding).

import { HostWriteError } from '../../host/host-io';
import { boundDriver, driverPath } from '../device-state';
import type { StepExecutor } from '../step-executor';
import { waitForDriver } from './probe-driver';
import { writeOverride } from './set-override';

export const unbindDriverStep: StepExecutor<'unbind-driver'> = {
  describe: (s) => `unbind ${s.device} from ${s.driver}`,

  async do(ctx, s) {
    // The kernel unbinds only a function bound to this very driver and refuses any other (ENODEV;
    // ENOENT once the driver is gone), so the write goes first and the driver is read only when it
    // was refused: one read less on the way, where each costs as much as a short write.
    try {
      await ctx.io.write(driverPath(s.driver, 'unbind'), s.device, { timeoutMs: ctx.timeouts.writeMs });
    } catch (e) {
      if (!(e instanceof HostWriteError && (e.code === 'ENODEV' || e.code === 'ENOENT'))) throw e;
      const now = boundDriver(ctx.io, s.device);
      if (now === null) return;
      if (now !== s.driver) throw new Error(`${s.device} is bound to ${now}, not ${s.driver} as planned`, { cause: e });
      throw e;
    }
  },

  async verify(ctx, s) {
    const now = boundDriver(ctx.io, s.device);
    if (now !== null) throw new Error(`${s.device} is still bound to ${now} after the unbind`);
  },

  async undo(ctx, s) {
    const now = boundDriver(ctx.io, s.device);
    if (now === s.driver) return;
    if (now !== null) throw new Error(`${s.device} is bound to ${now}, so it cannot be given back to ${s.driver}`);
    await writeOverride(ctx, s.device, s.restoreOverride);
    await ctx.io.write(driverPath(s.driver, 'bind'), s.device, { timeoutMs: ctx.timeouts.writeMs });
    await waitForDriver(ctx, s.device, s.driver);
  },

  async undone(ctx, s) {
    const now = boundDriver(ctx.io, s.device);
    if (now !== s.driver) throw new Error(`${s.device} is ${now === null ? 'unbound' : `bound to ${now}`} instead of ${s.driver}`);
  },

  functionLocal: true,
};
