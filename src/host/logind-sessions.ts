// The client of systemd-logind (org.freedesktop.login1): which sessions exist on a seat, and ending
// one (TerminateSession), waiting for SessionRemoved, which is installed as a match before the call.
// Also which seat a GPU belongs to, from udev's database (no ID_SEAT: seat0, as logind assigns it).

import * as dbus from 'dbus-next';
import { callMethod, getAllProperties, SignalWatch } from './dbus-client';
import { formatMs, type HostIO } from './host-io';
import { parsePciAddress } from './pci-address';

export const LOGIND_BUS_NAME = 'org.freedesktop.login1';
export const LOGIND_PATH = '/org/freedesktop/login1';
const MANAGER = 'org.freedesktop.login1.Manager';
const SESSION = 'org.freedesktop.login1.Session';

/** Session types that draw on a GPU (logind's Type property). */
export const GRAPHICAL_SESSION_TYPES: readonly string[] = ['x11', 'wayland', 'mir'];

export interface LogindSession {
  id: string;
  uid: number;
  user: string;
  /** "" for a session without a seat (ssh). */
  seat: string;
  type: string;
  class: string;
  state: string;
}

export class SessionTimeoutError extends Error {
  constructor(
    readonly session: LogindSession,
    readonly timeoutMs: number,
  ) {
    super(`session ${session.id} of ${session.user} (${session.type}) did not end within ${formatMs(timeoutMs)} of TerminateSession`);
    this.name = 'SessionTimeoutError';
  }
}

export class LogindSessions {
  private readonly removed: SignalWatch;

  constructor(private readonly bus: dbus.MessageBus) {
    this.removed = new SignalWatch(bus, { sender: LOGIND_BUS_NAME, path: LOGIND_PATH, interface: MANAGER, member: 'SessionRemoved' }, 0);
  }

  async list(): Promise<LogindSession[]> {
    const [rows] = (await this.manager('ListSessions', '', [])) as [[string, number, string, string, string][]];
    const sessions: LogindSession[] = [];
    for (const [id, uid, user, seat, path] of rows ?? []) {
      const p = await getAllProperties(this.bus, LOGIND_BUS_NAME, path, SESSION);
      sessions.push({ id, uid, user, seat, type: String(p.Type ?? ''), class: String(p.Class ?? ''), state: String(p.State ?? '') });
    }
    return sessions;
  }

  /** The sessions on `seat` that draw on a GPU (x11, wayland, mir), greeters included. */
  async graphicalOnSeat(seat: string): Promise<LogindSession[]> {
    return (await this.list()).filter((s) => s.seat === seat && GRAPHICAL_SESSION_TYPES.includes(s.type));
  }

  /** TerminateSession, then waits for SessionRemoved; throws SessionTimeoutError. */
  async terminate(session: LogindSession, timeoutMs: number): Promise<void> {
    await this.removed.callAndWait(
      async () => {
        await this.manager('TerminateSession', 's', [session.id]);
        return session.id;
      },
      timeoutMs,
      () => new SessionTimeoutError(session, timeoutMs),
    );
  }

  close(): Promise<void> {
    return this.removed.close();
  }

  private manager(member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    return callMethod(this.bus, { destination: LOGIND_BUS_NAME, path: LOGIND_PATH, interface: MANAGER, member, signature, body });
  }
}

/** One line per session for messages: "2 (alice, wayland)". */
export function describeSessions(sessions: readonly LogindSession[]): string {
  return sessions.map((s) => `${s.id} (${s.user}, ${s.type}${s.class === 'greeter' ? ' greeter' : ''})`).join(', ');
}

/**
 * The seat whose sessions use the GPU: udev's ID_SEAT of its DRM card (run/udev/data/c226:<minor>),
 * "seat0" when udev assigned none (every device belongs to seat0 unless a rule says otherwise).
 */
export function seatOfGpu(io: HostIO, address: string): string {
  const base = `sys/bus/pci/devices/${parsePciAddress(address)}/drm`;
  for (const card of io.list(base).filter((n) => /^card\d+$/.test(n))) {
    const dev = io.readText(`${base}/${card}/dev`);
    if (!dev) continue;
    const udev = io.readText(`run/udev/data/c${dev}`) ?? '';
    const seat = /^E:ID_SEAT=(\S+)$/m.exec(udev)?.[1];
    if (seat) return seat;
  }
  return 'seat0';
}
