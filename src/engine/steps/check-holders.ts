// No process may hold the GPU when its driver is unbound: the unbind would block in the kernel until
// the process lets go (libvirtd then hangs in the hook). After the display manager has stopped, the
// processes still holding the GPU's device nodes are refused by name and PID, or asked to exit
// (SIGTERM) when the VM's settings say holders: "terminate". logind ends the display manager's
// sessions a moment after its stop job, and their processes with them: while graphical sessions are
// open on the seat, that is waited for first (bounded by timeouts.sessionEndMs, woken by logind's
// signals), so neither a refusal nor a SIGTERM is for something that was ending anyway.

import { describeGpuHolders, findGpuHolders, gpuDeviceNodes, signalGpuHolders, type GpuHolder } from '../../host/gpu-holders';
import { formatMs } from '../../host/host-io';
import { describeSessions, type LogindSession } from '../../host/logind-sessions';
import { StepError } from '../engine-error';
import type { StepContext, StepExecutor } from '../step-executor';
import type { StepOf } from '../step-spec';
import { waitUntil } from '../wait-until';

declare module '../step-spec' {
  interface StepSpecMap {
    /** Refuse (or, with policy "terminate", end) processes holding the device nodes of `devices`; nothing to undo. */
    'check-holders': { devices: string[]; nvidia: boolean; policy: 'refuse' | 'terminate'; seat: string };
  }
}

function holdersNow(ctx: StepContext, s: StepOf<'check-holders'>): GpuHolder[] {
  return findGpuHolders(ctx.io, gpuDeviceNodes(ctx.io, s.devices, { nvidia: s.nvidia }));
}

/** The graphical sessions left on the seat once those ending by themselves have ended or the GPU is free; [] when unknown. */
async function sessionsAfterTheirEnd(ctx: StepContext, s: StepOf<'check-holders'>): Promise<LogindSession[]> {
  try {
    return (await ctx.services?.logind.waitWhileEnding(s.seat, ctx.timeouts.sessionEndMs, () => holdersNow(ctx, s).length === 0, ctx.signal)) ?? [];
  } catch {
    // The refusal names the processes; logind's view only adds a hint.
    return [];
  }
}

export const checkHoldersStep: StepExecutor<'check-holders'> = {
  describe: (s) => `check that no process holds ${s.devices[0]}`,

  async do(ctx, s) {
    if (holdersNow(ctx, s).length === 0) return undefined;
    const open = await sessionsAfterTheirEnd(ctx, s);
    const holders = holdersNow(ctx, s);
    if (holders.length === 0) return undefined;
    if (s.policy === 'refuse') {
      const sessions = open.length > 0 ? `; graphical sessions still open on ${s.seat}: ${describeSessions(open)}` : '';
      throw new StepError(
        'Busy',
        `${describeGpuHolders(holders)}${sessions}`,
        `close ${holders.length === 1 ? 'it' : 'them'} and try again${sessions ? ', or set endSessions' : ''}, or set holders to "terminate" to let gpu-hookd end them`,
      );
    }
    if (!ctx.processes) throw new Error('check-holders: this context cannot signal processes');
    signalGpuHolders(ctx.processes, holders);
    const gone = await waitUntil(() => holdersNow(ctx, s).every((h) => !holders.some((o) => o.pid === h.pid)), ctx.timeouts.unitJobMs, ctx.signal);
    if (!gone) {
      const left = holdersNow(ctx, s).filter((h) => holders.some((o) => o.pid === h.pid));
      throw new StepError('Timeout', `${describeGpuHolders(left)}, and did not exit within ${formatMs(ctx.timeouts.unitJobMs)} of SIGTERM`, 'end it by hand and try again');
    }
    return `terminated ${holders.map((h) => `${h.comm} (PID ${h.pid})`).join(', ')}`;
  },

  async verify(ctx, s) {
    const holders = holdersNow(ctx, s);
    if (holders.length > 0) throw new StepError('Busy', describeGpuHolders(holders), 'close them and try again');
  },

  async undo() {},
  async undone() {},
};
