// Stopping a systemd unit (the display manager, nvidia-persistenced) and starting it again: each is a
// systemd job, waited for until systemd reports its end (JobRemoved), bounded by timeouts.unitJobMs;
// never a fixed sleep. The same two jobs serve both directions: stop-unit's undo is start-unit's do.
//
// start-unit runs on the way back, after the GPU is on its host driver again: a display manager that
// will not start is said plainly, but does not send the GPU back to vfio-pci (the VM is gone, and
// the console and a login on it are worth more than an idle GPU).

import { formatMs } from '../../host/host-io';
import { UnitJobError, UnitJobTimeoutError } from '../../host/systemd-manager';
import { StepError } from '../engine-error';
import type { StepContext, StepExecutor } from '../step-executor';
import { busFailure, servicesOf } from './system-bus';

declare module '../step-spec' {
  interface StepSpecMap {
    /** Stop a running unit and wait for its job; undo starts it again. */
    'stop-unit': { unit: string };
    /** Start a unit a handover stopped and wait for its job; undo stops it. */
    'start-unit': { unit: string };
  }
}

const STOPPED = ['inactive', 'failed'];

async function runJob(ctx: StepContext, verb: 'start' | 'stop', unit: string): Promise<void> {
  const { systemd } = servicesOf(ctx, `${verb} ${unit}`);
  const timeoutMs = ctx.timeouts.unitJobMs;
  try {
    await (verb === 'stop' ? systemd.stopUnit(unit, { timeoutMs }) : systemd.startUnit(unit, { timeoutMs }));
  } catch (e) {
    if (e instanceof UnitJobTimeoutError) {
      throw new StepError(
        'Timeout',
        `${unit} did not ${verb} within ${formatMs(timeoutMs)} (systemd's ${verb} job is still running)`,
        `find out what holds it up with "journalctl -u ${unit}", or give it longer with timeouts.displayManagerStopMs`,
      );
    }
    if (e instanceof UnitJobError) {
      throw new StepError('Failed', `systemd's ${verb} job for ${unit} ended with result "${e.result}"`, `see "systemctl status ${unit}" for why`);
    }
    throw busFailure(e, `${verb} ${unit}`, 'systemd');
  }
}

async function activeState(ctx: StepContext, unit: string): Promise<string> {
  try {
    return (await servicesOf(ctx, `read the state of ${unit}`).systemd.unitStatus(unit)).activeState;
  } catch (e) {
    throw busFailure(e, `read the state of ${unit}`, 'systemd');
  }
}

async function verifyActive(ctx: StepContext, unit: string): Promise<void> {
  const state = await activeState(ctx, unit);
  if (state !== 'active') throw new StepError('Failed', `${unit} is ${state} after its start job`, `see "systemctl status ${unit}" for why`);
}

async function verifyStopped(ctx: StepContext, unit: string): Promise<void> {
  const state = await activeState(ctx, unit);
  if (!STOPPED.includes(state)) throw new StepError('Failed', `${unit} is still ${state} after its stop job`, `see "systemctl status ${unit}" for what keeps it running`);
}

async function start(ctx: StepContext, unit: string): Promise<void> {
  await runJob(ctx, 'start', unit);
  await verifyActive(ctx, unit);
}

export const stopUnitStep: StepExecutor<'stop-unit'> = {
  describe: (s) => `stop ${s.unit}`,
  do: (ctx, s) => runJob(ctx, 'stop', s.unit),
  verify: (ctx, s) => verifyStopped(ctx, s.unit),
  // Starting a unit that runs already is a job that ends at once: safe when the stop never ran.
  undo: (ctx, s) => runJob(ctx, 'start', s.unit),
  undone: (ctx, s) => verifyActive(ctx, s.unit),
};

export const startUnitStep: StepExecutor<'start-unit'> = {
  describe: (s) => `start ${s.unit}`,
  async do(ctx, s) {
    try {
      await start(ctx, s.unit);
      return undefined;
    } catch (e) {
      if (!(e instanceof StepError)) throw e;
      return `${e.message}, so the desktop did not come back although the GPU did: ${e.advice}`;
    }
  },
  // do has read the unit's state back, or said why it could not start.
  async verify() {},
  undo: (ctx, s) => runJob(ctx, 'stop', s.unit),
  undone: (ctx, s) => verifyStopped(ctx, s.unit),
};
