// drivers_probe asks the kernel to find a driver for an unbound function (driver_override decides
// which). Some drivers bind asynchronously, so the result is awaited with a bounded poll
// (docs/kernel-facts.md, Binding).

import { formatMs } from '../../host/host-io';
import { drmCardsOf, isDrmDriver } from '../../host/modules';
import { isDisplayClass, VFIO_DRIVER } from '../../host/pci-device';
import { readPciClass } from '../../host/pci-discovery';
import { describeBinding } from '../../host/leftovers';
import { DRIVERS_PROBE, boundDriver, devicePath, driverPath } from '../device-state';
import type { StepContext, StepExecutor } from '../step-executor';
import type { StepOf } from '../step-spec';
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
  describe: (s) => (s.expect === null ? `probe ${s.device} for the driver the kernel chooses` : `probe ${s.device} for ${s.expect}`),

  async do(ctx, s) {
    // No read first: the kernel probes only an unbound function (bus_rescan_devices_helper), so for
    // a bound one the write changes nothing, and verify says whether it landed where planned.
    // vfio-pci's probe waits on nothing (no firmware, no user), so it is written in place; a host
    // driver's probe may load firmware or wait on its hardware for seconds: off the event loop, bounded.
    await ctx.io.write(DRIVERS_PROBE, s.device, { timeoutMs: ctx.timeouts.writeMs, inPlace: s.expect === VFIO_DRIVER });
    return s.expect === null ? kernelsChoice(ctx, s) : undefined;
  },

  async verify(ctx, s) {
    // The kernel's choice is whatever it is: do waited for it and said what it was.
    if (s.expect === null) return;
    await waitForDriver(ctx, s.device, s.expect);
    if (s.expect !== VFIO_DRIVER) await waitForDrmNode(ctx, s.device, s.expect);
  },

  async undo(ctx, s) {
    const now = boundDriver(ctx.io, s.device);
    if (now === null || (s.expect !== null && now !== s.expect)) return;
    await ctx.io.write(driverPath(now, 'unbind'), s.device, { timeoutMs: ctx.timeouts.writeMs });
  },

  async undone(ctx, s) {
    if (boundDriver(ctx.io, s.device) === s.expect) throw new Error(`${s.device} is still bound to ${s.expect} after the unbind`);
  },

  functionLocal: true,
};

/**
 * Waits (bounded) for a driver to take the function, and says in one sentence where it went: to a
 * host driver, to vfio-pci again (its ids are in vfio-pci's table: ids= at boot or a new_id), or
 * nowhere (no registered driver matches it).
 */
async function kernelsChoice(ctx: StepContext, s: StepOf<'probe-driver'>): Promise<string> {
  await waitUntil(() => boundDriver(ctx.io, s.device) !== null, ctx.timeouts.probeMs, ctx.signal);
  const now = boundDriver(ctx.io, s.device);
  const was = s.leftover ? `${s.device} was ${describeBinding(s.leftover)} when gpu-hookd took it` : `${s.device} was not on a host driver`;
  if (now === null) {
    return `${was}; given back to the kernel, no driver took it, so it stays unbound (load its driver's module to give it one)`;
  }
  if (now !== VFIO_DRIVER) return `${was}; given back to the kernel, which chose ${now} for it`;
  const ids = pciIds(ctx, s.device);
  const where = onCommandLine(ctx, ids) ? 'vfio-pci.ids= on the kernel command line' : 'vfio-pci ids= (kernel command line or modprobe.d) or a new_id write';
  return (
    `${was}; given back to the kernel, vfio-pci took it again because its ids ${ids} are in vfio-pci's table (${where}); ` +
    `remove them there, or echo "${ids.replace(':', ' ')}" > /sys/bus/pci/drivers/vfio-pci/remove_id, for the host's driver to get it`
  );
}

/** "10de:10f9" from the vendor and device attributes. */
function pciIds(ctx: StepContext, device: string): string {
  const hex = (attr: string): string => (ctx.io.readText(devicePath(device, attr)) ?? '').replace(/^0x/, '').toLowerCase();
  return `${hex('vendor')}:${hex('device')}`;
}

function onCommandLine(ctx: StepContext, ids: string): boolean {
  const cmdline = ctx.io.readText('proc/cmdline') ?? '';
  return cmdline.split(/\s+/).some((arg) => /^vfio[-_]pci\.ids=/.test(arg) && arg.slice(arg.indexOf('=') + 1).split(',').includes(ids));
}
