// The give-back's second chance: a PCI function whose host driver could not take it back (a card a
// VM left in a state only a reset clears) is reset while vfio-pci holds it, before it is probed again:
// through its own reset file (the kernel picks the first method that works: flr, pm, bus...), or,
// where it has none, through the bridge above it (reset_subordinate resets every function on the bus,
// which the plan allows only when every one of them moves with the GPU).

import { describeErrno, HostWriteError } from '../../host/host-io';
import { devicePath } from '../device-state';
import type { StepExecutor } from '../step-executor';

declare module '../step-spec' {
  interface StepSpecMap {
    /**
     * Reset `device`: `bridge` null: the function alone (its reset file); else the secondary bus below
     * `bridge` with every function on it (`devices`, all the GPU's). A reset cannot be taken back: undo
     * does nothing.
     */
    'reset-function': { device: string; bridge: string | null; devices: string[]; methods: string[] };
  }
}

export const resetFunctionStep: StepExecutor<'reset-function'> = {
  describe: (s) =>
    s.bridge === null
      ? `reset ${s.device}${s.methods.length > 0 ? ` (${s.methods.join(', ')})` : ''}`
      : `reset the bus below ${s.bridge} (${s.devices.join(', ')})`,

  async do(ctx, s) {
    const path = s.bridge === null ? devicePath(s.device, 'reset') : devicePath(s.bridge, 'reset_subordinate');
    try {
      await ctx.io.write(path, '1', { timeoutMs: ctx.timeouts.writeMs });
    } catch (e) {
      if (e instanceof HostWriteError && e.code === 'ENOTTY') {
        throw new Error(`the kernel has no reset for ${s.bridge === null ? s.device : `the bus below ${s.bridge}`} (${describeErrno(e.code)})`);
      }
      throw e;
    }
  },

  /** After a reset every function must still answer: one that fell off the bus reads vendor ffff. */
  async verify(ctx, s) {
    for (const device of s.bridge === null ? [s.device] : s.devices) {
      const config = ctx.io.readBytes(devicePath(device, 'config'), 0, 2);
      if (!config || config.length < 2) throw new Error(`${device} is gone after the reset (its config space cannot be read)`);
      if (config.readUInt16LE(0) === 0xffff) throw new Error(`${device} no longer answers after the reset (its config space reads vendor ffff)`);
    }
  },

  async undo() {},
  async undone() {},
};
