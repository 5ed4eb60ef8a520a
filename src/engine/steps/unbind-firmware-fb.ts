// The firmware framebuffer (efifb, simplefb/simpledrm, vesafb) scans out of the boot VGA's memory
// and holds that range: vfio-pci then cannot reserve the BAR. It is unbound from its platform
// driver before the detach. The kernel itself removes the platform device for good once vfio-pci
// (or a DRM driver) claims the boot VGA's aperture (docs/kernel-facts.md), so on the way back there may
// be nothing to bind: that is said plainly, never papered over.

import { findFirmwareFramebuffer, framebuffersOf, platformDriverPath } from '../../host/consoles';
import { parsePciAddress } from '../../host/pci-address';
import { boundDriver } from '../device-state';
import type { StepContext, StepExecutor } from '../step-executor';
import type { StepOf } from '../step-spec';

declare module '../step-spec' {
  interface StepSpecMap {
    /** Unbind the firmware framebuffer's platform device `framebuffer` ("efi-framebuffer.0") of the
     *  boot VGA `gpu` from `driver`; undo binds it when it still exists. */
    'unbind-firmware-fb': { framebuffer: string; driver: string; gpu: string };
    /** Bind it again when the kernel kept it; undo unbinds it. */
    'bind-firmware-fb': { framebuffer: string; driver: string; gpu: string };
  }
}

type FbSpec = StepOf<'unbind-firmware-fb'> | StepOf<'bind-firmware-fb'>;

async function unbind(ctx: StepContext, s: FbSpec): Promise<void> {
  if (findFirmwareFramebuffer(ctx.io, s.framebuffer)?.driver !== s.driver) return;
  await ctx.io.write(platformDriverPath(s.driver, 'unbind'), s.framebuffer, { timeoutMs: ctx.timeouts.writeMs });
}

/** The GPU's own driver registered a framebuffer for the console. DRM nodes alone do not say it:
 *  the proprietary nvidia driver has them and no fbdev, so without efifb the console stays black. */
function gpuDraws(ctx: StepContext, gpu: string): boolean {
  return framebuffersOf(ctx.io, [parsePciAddress(gpu)]).length > 0;
}

/** Binds it back when it exists and the GPU has no driver of its own drawing; else says why not. */
async function bind(ctx: StepContext, s: FbSpec): Promise<string | undefined> {
  const fb = findFirmwareFramebuffer(ctx.io, s.framebuffer);
  if (!fb) {
    return `the kernel removed ${s.framebuffer} when ${s.gpu} went to vfio-pci, so it cannot be bound again; ` +
      `the console comes back with the framebuffer of ${s.gpu}'s own driver`;
  }
  if (fb.driver !== null) return undefined;
  // A driver that took the GPU back with a framebuffer draws the console itself; a second scanout on its memory would fight it.
  if (gpuDraws(ctx, s.gpu)) {
    return `${s.framebuffer} stays unbound: ${boundDriver(ctx.io, s.gpu) ?? 'a DRM driver'} drives ${s.gpu}'s display now`;
  }
  await ctx.io.write(platformDriverPath(s.driver, 'bind'), s.framebuffer, { timeoutMs: ctx.timeouts.writeMs });
  return undefined;
}

function verifyUnbound(ctx: StepContext, s: FbSpec): void {
  const fb = findFirmwareFramebuffer(ctx.io, s.framebuffer);
  if (fb?.driver) throw new Error(`${s.framebuffer} is still bound to ${fb.driver} after the unbind`);
}

/** Bound again, unless the kernel removed it or the GPU's own driver draws (bind() says why). */
function verifyBound(ctx: StepContext, s: FbSpec): void {
  const fb = findFirmwareFramebuffer(ctx.io, s.framebuffer);
  if (fb && fb.driver === null && !gpuDraws(ctx, s.gpu)) throw new Error(`${s.framebuffer} is still unbound after the bind`);
}

export const unbindFirmwareFbStep: StepExecutor<'unbind-firmware-fb'> = {
  describe: (s) => `unbind ${s.framebuffer} from ${s.driver}`,
  do: unbind,
  verify: async (ctx, s) => verifyUnbound(ctx, s),
  async undo(ctx, s) {
    const why = await bind(ctx, s);
    if (why) ctx.log.warn({ framebuffer: s.framebuffer }, why);
  },
  undone: async (ctx, s) => verifyBound(ctx, s),
};

export const bindFirmwareFbStep: StepExecutor<'bind-firmware-fb'> = {
  describe: (s) => `bind ${s.framebuffer} to ${s.driver}`,
  do: bind,
  verify: async (ctx, s) => verifyBound(ctx, s),
  undo: unbind,
  undone: async (ctx, s) => verifyUnbound(ctx, s),
};
