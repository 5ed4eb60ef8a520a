// drivers_probe asks the kernel to find a driver for an unbound function (driver_override decides
// which). Some drivers bind asynchronously, so the result is awaited with a bounded poll.

import { formatMs } from '../../host/host-io';
import { VFIO_DRIVER } from '../../host/pci-device';
import { DRIVERS_PROBE, boundDriver, driverPath } from '../device-state';
import type { StepContext, StepExecutor } from '../step-executor';
import { waitUntil } from '../wait-until';

export async function waitForDriver(ctx: StepContext, device: string, driver: string): Promise<void> {
  const ok = await waitUntil(() => boundDriver(ctx.io, device) === driver, ctx.timeouts.probeMs, ctx.signal);
  if (ok) return;
  const now = boundDriver(ctx.io, device);
  throw new Error(
    `${device} is ${now === null ? 'unbound' : `bound to ${now}`} instead of ${driver} ` +
      `${formatMs(ctx.timeouts.probeMs)} after the probe`,
  );
}

export const probeDriverStep: StepExecutor<'probe-driver'> = {
  describe: (s) => `probe ${s.device} for ${s.expect}`,

  async do(ctx, s) {
    // No read first: the kernel probes only an unbound function (bus_rescan_devices_helper), so for
    // a bound one the write changes nothing, and verify says whether it landed where planned.
    // vfio-pci's probe waits on nothing (no firmware, no user), so it is written in place; a host
    // driver's probe may load firmware or wait on its hardware for seconds: off the event loop, bounded.
    await ctx.io.write(DRIVERS_PROBE, s.device, { timeoutMs: ctx.timeouts.writeMs, inPlace: s.expect === VFIO_DRIVER });
  },

  verify: (ctx, s) => waitForDriver(ctx, s.device, s.expect),

  async undo(ctx, s) {
    if (boundDriver(ctx.io, s.device) !== s.expect) return;
    await ctx.io.write(driverPath(s.expect, 'unbind'), s.device, { timeoutMs: ctx.timeouts.writeMs });
  },

  functionLocal: true,
};
