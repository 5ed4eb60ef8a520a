// driver_override decides which driver may take a function at the next probe or bind.

import { devicePath, driverOverride, overrideWriteValue } from '../device-state';
import type { StepContext, StepExecutor } from '../step-executor';

/**
 * Writes driver_override only when it differs (undo and recovery call it on any state). In place:
 * the write takes the device lock the read just before it took, so if the lock were held (an unbind
 * waiting for a VM) the read would already have waited; otherwise the kernel stores the string at once.
 */
export async function writeOverride(ctx: StepContext, device: string, value: string | null): Promise<void> {
  if (driverOverride(ctx.io, device) === value) return;
  await ctx.io.write(devicePath(device, 'driver_override'), overrideWriteValue(value), { timeoutMs: ctx.timeouts.writeMs, inPlace: true });
}

export const setOverrideStep: StepExecutor<'set-override'> = {
  describe: (s) =>
    s.value === null ? `clear driver_override of ${s.device}` : `set driver_override of ${s.device} to ${s.value}`,

  do: (ctx, s) => writeOverride(ctx, s.device, s.value),

  async verify(ctx, s) {
    const now = driverOverride(ctx.io, s.device);
    if (now !== s.value) {
      throw new Error(`driver_override of ${s.device} reads ${now ?? '(null)'} instead of ${s.value ?? '(null)'}`);
    }
  },

  undo: (ctx, s) => writeOverride(ctx, s.device, s.previous),

  functionLocal: true,
};
