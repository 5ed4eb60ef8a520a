// Ending the graphical logind sessions on the GPU's seat (opt-in: it logs their users out). Stopping
// the display manager does not always end the sessions it started: a compositor in a user session
// can outlive it and keep the GPU open. Each session ends with TerminateSession and is waited for
// (SessionRemoved), bounded by timeouts.unitJobMs.

import { describeSessions, SessionTimeoutError, type LogindSession } from '../../host/logind-sessions';
import { BusCallError } from '../../host/dbus-client';
import { formatMs } from '../../host/host-io';
import { StepError } from '../engine-error';
import type { StepContext, StepExecutor } from '../step-executor';
import { busFailure, servicesOf } from './system-bus';

declare module '../step-spec' {
  interface StepSpecMap {
    /** End every graphical session on `seat`; nothing to undo (the display manager's start brings the login back). */
    'end-sessions': { seat: string };
  }
}

async function graphicalSessions(ctx: StepContext, seat: string): Promise<LogindSession[]> {
  try {
    return await servicesOf(ctx, `list the sessions on ${seat}`).logind.graphicalOnSeat(seat);
  } catch (e) {
    throw busFailure(e, `list the sessions on ${seat}`, 'logind');
  }
}

export const endSessionsStep: StepExecutor<'end-sessions'> = {
  describe: (s) => `end the graphical sessions on ${s.seat}`,

  async do(ctx, s) {
    const sessions = await graphicalSessions(ctx, s.seat);
    const { logind } = servicesOf(ctx, `end the sessions on ${s.seat}`);
    for (const session of sessions) {
      try {
        await logind.terminate(session, ctx.timeouts.unitJobMs);
      } catch (e) {
        // Ended by itself between the listing and the call: that is what was asked for.
        if (e instanceof BusCallError && e.errorName === 'org.freedesktop.login1.NoSuchSession') continue;
        if (e instanceof SessionTimeoutError) {
          throw new StepError(
            'Timeout',
            `session ${describeSessions([session])} on ${s.seat} did not end within ${formatMs(ctx.timeouts.unitJobMs)} of TerminateSession`,
            `see "loginctl session-status ${session.id}" for what keeps it open`,
          );
        }
        throw busFailure(e, `end session ${session.id}`, 'logind');
      }
    }
    return sessions.length > 0 ? `ended session${sessions.length === 1 ? '' : 's'} ${describeSessions(sessions)}` : undefined;
  },

  async verify(ctx, s) {
    const left = await graphicalSessions(ctx, s.seat);
    if (left.length > 0) {
      throw new StepError('Failed', `graphical sessions ${describeSessions(left)} are still open on ${s.seat}`, `end them with "loginctl terminate-session" and try again`);
    }
  },

  async undo() {},
};
