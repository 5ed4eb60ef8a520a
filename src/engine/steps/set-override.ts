// driver_override decides which driver may take a function at the next probe or bind.

import { devicePath, driverOverride, overrideWriteValue } from '../device-state';
import type { StepContext, StepExecutor } from '../step-executor';

/** Writes driver_override only when it differs (undo and recovery call it on any state). */
export async function writeOverride(ctx: StepContext, device: string, value: string | null): Promise<void> {
  if (driverOverride(ctx.io, device) === value) return;
  await storeOverride(ctx, device, value);
}

/**
 * The write alone, in place: it takes the function's device lock, as the read of driver_override
 * before it did (discovery's, or writeOverride's), so if the lock were held (an unbind waiting for a
 * VM) that read would already have waited; otherwise the kernel stores the string at once.
 */
function storeOverride(ctx: StepContext, device: string, value: string | null): Promise<void> {
  return ctx.io.write(devicePath(device, 'driver_override'), overrideWriteValue(value), { timeoutMs: ctx.timeouts.writeMs, inPlace: true });
}

function overrideReads(ctx: StepContext, device: string, value: string | null): void {
  const now = driverOverride(ctx.io, device);
  if (now !== value) throw new Error(`driver_override of ${device} reads ${now ?? '(null)'} instead of ${value ?? '(null)'}`);
}

export const setOverrideStep: StepExecutor<'set-override'> = {
  describe: (s) =>
    s.value === null ? `clear driver_override of ${s.device}` : `set driver_override of ${s.device} to ${s.value}`,

  // Planned from what discovery read a moment ago; storing an equal value changes nothing, so no read first.
  do: (ctx, s) => storeOverride(ctx, s.device, s.value),

  verify: async (ctx, s) => overrideReads(ctx, s.device, s.value),

  undo: (ctx, s) => writeOverride(ctx, s.device, s.previous),
  undone: async (ctx, s) => overrideReads(ctx, s.device, s.previous),

  functionLocal: true,
};
