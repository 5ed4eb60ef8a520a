// Loads the module behind a PCI driver when the driver is not registered yet.

import { driverRegistered } from '../device-state';
import type { StepExecutor } from '../step-executor';
import { waitUntil } from '../wait-until';

export const loadModuleStep: StepExecutor<'load-module'> = {
  describe: (s) => `load kernel module ${s.module}`,

  async do(ctx, s) {
    if (driverRegistered(ctx.io, s.driver)) return;
    await ctx.io.loadModule(s.module, { timeoutMs: ctx.timeouts.moduleMs });
  },

  async verify(ctx, s) {
    if (!(await waitUntil(() => driverRegistered(ctx.io, s.driver), ctx.timeouts.probeMs, ctx.signal))) {
      throw new Error(`module ${s.module} loaded but driver ${s.driver} did not register`);
    }
  },

  async undo(ctx, s) {
    // vfio-pci stays: unloading vfio while anything may still use it is never worth the risk.
    if (s.keepLoaded || !driverRegistered(ctx.io, s.driver)) return;
    await ctx.io.unloadModule(s.module, { timeoutMs: ctx.timeouts.moduleMs });
  },

  async undone(ctx, s) {
    if (!s.keepLoaded && driverRegistered(ctx.io, s.driver)) throw new Error(`driver ${s.driver} is still registered after unloading module ${s.module}`);
  },
};
