// Unbinding releases a function from its driver. Binding it back (the undo) needs driver_override
// restored first: an override naming another driver makes the kernel refuse the bind.

import { boundDriver, driverPath } from '../device-state';
import type { StepExecutor } from '../step-executor';
import { waitForDriver } from './probe-driver';
import { writeOverride } from './set-override';

export const unbindDriverStep: StepExecutor<'unbind-driver'> = {
  describe: (s) => `unbind ${s.device} from ${s.driver}`,

  async do(ctx, s) {
    const now = boundDriver(ctx.io, s.device);
    if (now === null) return;
    if (now !== s.driver) throw new Error(`${s.device} is bound to ${now}, not ${s.driver} as planned`);
    await ctx.io.write(driverPath(s.driver, 'unbind'), s.device, { timeoutMs: ctx.timeouts.writeMs });
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

  functionLocal: true,
};
