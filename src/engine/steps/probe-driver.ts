// drivers_probe asks the kernel to find a driver for an unbound function (driver_override decides
// which). Some drivers bind asynchronously, so the result is awaited with a bounded poll.

import { formatMs } from '../../host/host-io';
import { drmCardsOf, isDrmDriver } from '../../host/modules';
import { isDisplayClass, VFIO_DRIVER } from '../../host/pci-device';
import { readPciClass } from '../../host/pci-discovery';
import { DRIVERS_PROBE, boundDriver, driverPath } from '../device-state';
import type { StepContext, StepExecutor } from '../step-executor';
import { waitUntil } from '../wait-until';

/** The probe was written, but the driver did not take the function: it did not bind in time, or
 *  bound without bringing the card up. A reset may cure it (give-back-reset.ts). */
export class DriverDidNotTakeError extends Error {
  constructor(
    readonly device: string,
    readonly driver: string,
    message: string,
  ) {
    super(message);
  }
}

export async function waitForDriver(ctx: StepContext, device: string, driver: string): Promise<void> {
  const ok = await waitUntil(() => boundDriver(ctx.io, device) === driver, ctx.timeouts.probeMs, ctx.signal);
  if (ok) return;
  const now = boundDriver(ctx.io, device);
  throw new DriverDidNotTakeError(device, driver, 
    `${device} is ${now === null ? 'unbound' : `bound to ${now}`} instead of ${driver} ` +
      `${formatMs(ctx.timeouts.probeMs)} after the probe`,
  );
}

/**
 * A display function a DRM driver bound must come with its DRM device: a driver whose hardware init
 * failed after the bind (a card a VM left in a bad state) stays bound with no /dev/dri node.
 */
async function waitForDrmNode(ctx: StepContext, device: string, driver: string): Promise<void> {
  const cls = readPciClass(ctx.io, device);
  if (cls === undefined || !isDisplayClass(cls) || !isDrmDriver(ctx.io, driver)) return;
  if (await waitUntil(() => drmCardsOf(ctx.io, device).length > 0, ctx.timeouts.probeMs, ctx.signal)) return;
  throw new DriverDidNotTakeError(device, driver,
    `${device} is bound to ${driver} but has no DRM device (/dev/dri/card*) ${formatMs(ctx.timeouts.probeMs)} after the probe: ` +
      'the driver could not bring the card up',
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

  async verify(ctx, s) {
    await waitForDriver(ctx, s.device, s.expect);
    if (s.expect !== VFIO_DRIVER) await waitForDrmNode(ctx, s.device, s.expect);
  },

  async undo(ctx, s) {
    if (boundDriver(ctx.io, s.device) !== s.expect) return;
    await ctx.io.write(driverPath(s.expect, 'unbind'), s.device, { timeoutMs: ctx.timeouts.writeMs });
  },

  functionLocal: true,
};
