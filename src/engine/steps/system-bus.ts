// The steps of the single-GPU handover reach systemd and logind through the context's services,
// which only the daemon (with its system bus connection) provides.

import type { HostServices } from '../../host/host-services';
import { BusCallError } from '../../host/dbus-client';
import { StepError } from '../engine-error';
import type { StepContext } from '../step-executor';

export function servicesOf(ctx: StepContext, what: string): HostServices {
  if (ctx.services) return ctx.services;
  throw new StepError(
    'Failed',
    `gpu-hookd has no system bus connection, so it cannot ${what}`,
    'let the gpu-hookd service do it (it talks to systemd and logind on the system bus)',
  );
}

/** A refused or unanswered bus call as the step's one sentence. */
export function busFailure(e: unknown, what: string, service: 'systemd' | 'logind'): unknown {
  if (!(e instanceof BusCallError)) return e;
  if (e.serviceMissing) {
    return new StepError('Failed', `${service} does not answer on the system bus (${e.errorName}), so gpu-hookd cannot ${what}`, `check that ${service === 'systemd' ? 'systemd' : 'systemd-logind'} runs, then try again`);
  }
  return new StepError('Failed', `${service} refused to ${what}: ${e.detail} (${e.errorName})`, `check the ${service} journal (journalctl -b) and try again`);
}
