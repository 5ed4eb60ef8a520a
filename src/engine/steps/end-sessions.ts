// Ending the graphical logind sessions on the GPU's seat (opt-in: it logs their users out). Stopping
// the display manager does not always end the sessions it started: a compositor in a user session
// can outlive it and keep the GPU open. Each session ends with TerminateSession and is waited for
// (SessionRemoved), bounded by timeouts.unitJobMs. A session already "closing" is one logind is ending
// by itself (the display manager's, a moment after its stop job): it is waited for, not terminated.

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

async function waitForEnding(ctx: StepContext, seat: string, ending: LogindSession[]): Promise<void> {
  const isEnding = (x: LogindSession): boolean => ending.some((e) => e.id === x.id);
  let left: LogindSession[];
  try {
    const { logind } = servicesOf(ctx, `wait for the sessions on ${seat} to end`);
    left = (await logind.waitWhileEnding(seat, ctx.timeouts.unitJobMs, (now) => !now.some(isEnding), ctx.signal)).filter(isEnding);
  } catch (e) {
    throw busFailure(e, `wait for the sessions on ${seat} to end`, 'logind');
  }
  if (left.length > 0) {
    throw new StepError(
      'Timeout',
      `session${left.length === 1 ? '' : 's'} ${describeSessions(left)} on ${seat} did not end within ${formatMs(ctx.timeouts.unitJobMs)} of logind closing ${left.length === 1 ? 'it' : 'them'}`,
      `see "loginctl session-status ${left[0].id}" for what keeps it open`,
    );
  }
}

export const endSessionsStep: StepExecutor<'end-sessions'> = {
  describe: (s) => `end the graphical sessions on ${s.seat}`,

  async do(ctx, s) {
    const sessions = await graphicalSessions(ctx, s.seat);
    const { logind } = servicesOf(ctx, `end the sessions on ${s.seat}`);
    const ending = sessions.filter((x) => x.state === 'closing');
    const open = sessions.filter((x) => x.state !== 'closing');
    for (const session of open) {
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
    if (ending.length > 0) await waitForEnding(ctx, s.seat, ending);
    const notes = [
      ...(open.length > 0 ? [`ended session${open.length === 1 ? '' : 's'} ${describeSessions(open)}`] : []),
      ...(ending.length > 0 ? [`waited for ${describeSessions(ending)}, which logind was ending`] : []),
    ];
    return notes.length > 0 ? notes.join('; ') : undefined;
  },

  async verify(ctx, s) {
    const left = await graphicalSessions(ctx, s.seat);
    if (left.length > 0) {
      throw new StepError('Failed', `graphical sessions ${describeSessions(left)} are still open on ${s.seat}`, `end them with "loginctl terminate-session" and try again`);
    }
  },

  async undo() {},
  async undone() {},
};
