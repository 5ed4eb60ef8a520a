// The client of systemd-logind (org.freedesktop.login1): which sessions exist on a seat, and ending
// one (TerminateSession), waiting for SessionRemoved, which is installed as a match before the call;
// waiting, bounded and woken by logind's signals, while the sessions on a seat end by themselves.
// Also which seat a GPU belongs to, from udev's database (no ID_SEAT: seat0, as logind assigns it).

import * as dbus from 'dbus-next';
import { BusCallError, BusMatch, callMethod, getAllProperties, SignalWatch } from './dbus-client';
import { formatMs, type HostIO } from './host-io';
import { parsePciAddress } from './pci-address';

export const LOGIND_BUS_NAME = 'org.freedesktop.login1';
export const LOGIND_PATH = '/org/freedesktop/login1';
const MANAGER = 'org.freedesktop.login1.Manager';
const SESSION = 'org.freedesktop.login1.Session';

/** What reading a session's object answers once logind has removed it (dbus-next's stand-in says InvalidArgs). */
const SESSION_GONE = ['org.freedesktop.DBus.Error.UnknownObject', 'org.freedesktop.DBus.Error.UnknownInterface', 'org.freedesktop.DBus.Error.InvalidArgs', 'org.freedesktop.login1.NoSuchSession'];

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
  private readonly changes: LogindChanges;

  constructor(private readonly bus: dbus.MessageBus) {
    this.removed = new SignalWatch(bus, { sender: LOGIND_BUS_NAME, path: LOGIND_PATH, interface: MANAGER, member: 'SessionRemoved' }, 0);
    this.changes = new LogindChanges(bus);
  }

  /**
   * The graphical sessions on `seat` once `settled(open)` holds, none is left, or `timeoutMs` has
   * passed: re-read whenever logind signals a change (SessionRemoved, a session's State turning
   * "closing"), never on a timer. For what logind ends by itself a moment after a display manager stops.
   */
  async waitWhileEnding(seat: string, timeoutMs: number, settled: (open: LogindSession[]) => boolean, signal?: AbortSignal): Promise<LogindSession[]> {
    await this.changes.start();
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      // Armed before the read, so a change between the read and the wait is not missed.
      const changed = this.changes.next();
      const open = await this.graphicalOnSeat(seat);
      const left = deadline - performance.now();
      if (open.length === 0 || settled(open) || left <= 0 || signal?.aborted) return open;
      await changed.within(left, signal);
    }
  }

  async list(): Promise<LogindSession[]> {
    const [rows] = (await this.manager('ListSessions', '', [])) as [[string, number, string, string, string][]];
    const sessions: LogindSession[] = [];
    for (const [id, uid, user, seat, path] of rows ?? []) {
      let p: Record<string, unknown>;
      try {
        p = await getAllProperties(this.bus, LOGIND_BUS_NAME, path, SESSION);
      } catch (e) {
        // Removed between the listing and this read: it is not there any more.
        if (e instanceof BusCallError && SESSION_GONE.includes(e.errorName)) continue;
        throw e;
      }
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

  async close(): Promise<void> {
    await Promise.all([this.removed.close(), this.changes.close()]);
  }

  private manager(member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    return callMethod(this.bus, { destination: LOGIND_BUS_NAME, path: LOGIND_PATH, interface: MANAGER, member, signature, body });
  }
}

/** One line per session for messages: "2 (alice, wayland)", "c1 (sddm, x11 greeter, closing)". */
export function describeSessions(sessions: readonly LogindSession[]): string {
  return sessions.map((s) => `${s.id} (${s.user}, ${s.type}${s.class === 'greeter' ? ' greeter' : ''}${s.state === 'closing' ? ', closing' : ''})`).join(', ');
}

/**
 * Every signal logind sends below its path (SessionNew, SessionRemoved, PropertiesChanged of a
 * session), as a wake-up: one match rule, installed once, removed at close.
 */
class LogindChanges {
  private readonly waiting = new Set<() => void>();
  private readonly subscription: BusMatch;

  constructor(bus: dbus.MessageBus) {
    this.subscription = new BusMatch(bus, `type='signal',sender='${LOGIND_BUS_NAME}',path_namespace='${LOGIND_PATH}'`, (msg) => {
      if (msg.type !== dbus.MessageType.SIGNAL || !msg.path?.startsWith(LOGIND_PATH)) return;
      for (const wake of this.waiting) wake();
      this.waiting.clear();
    });
  }

  start(): Promise<void> {
    return this.subscription.start();
  }

  /** The next change; `within(ms)` resolves at it, or after `ms`, or on abort, whichever comes first. */
  next(): { within(ms: number, signal?: AbortSignal): Promise<void> } {
    let seen = false;
    let wake: (() => void) | undefined;
    const onChange = (): void => {
      seen = true;
      wake?.();
    };
    this.waiting.add(onChange);
    return {
      within: (ms, signal) =>
        new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            this.waiting.delete(onChange);
            resolve();
          };
          const timer = setTimeout(done, ms);
          signal?.addEventListener('abort', done, { once: true });
          wake = done;
          if (seen) done();
        }),
    };
  }

  close(): Promise<void> {
    return this.subscription.close();
  }
}

/**
 * The seat whose sessions use the GPU: udev's ID_SEAT of its DRM card (run/udev/data/c226:<minor>),
 * "seat0" when udev assigned none (every device belongs to seat0 unless a rule says otherwise).
 */
export function seatOfGpu(io: HostIO, address: string): string {
  const base = `sys/bus/pci/devices/${parsePciAddress(address)}/drm`;
  for (const card of io.list(base).filter((n) => /^card\d+$/.test(n))) {
    const seat = seatOfCard(io, `${base}/${card}`);
    if (seat) return seat;
  }
  return 'seat0';
}

/** ID_SEAT of the DRM card whose sysfs directory is `dir`, or undefined when udev assigned none. */
function seatOfCard(io: HostIO, dir: string): string | undefined {
  const dev = io.readText(`${dir}/dev`);
  if (!dev) return undefined;
  return /^E:ID_SEAT=(\S+)$/m.exec(io.readText(`run/udev/data/c${dev}`) ?? '')?.[1];
}

/**
 * True when the GPU has a DRM card and no other card of the host belongs to its seat: the sessions
 * on that seat can only draw on this GPU. On a seat with two GPUs (seat0 of an iGPU + dGPU desktop)
 * a session says nothing about which one it uses.
 */
export function onlyCardOfSeat(io: HostIO, address: string, seat: string): boolean {
  const own = io.list(`sys/bus/pci/devices/${parsePciAddress(address)}/drm`).filter((n) => /^card\d+$/.test(n));
  if (own.length === 0) return false;
  return io
    .list('sys/class/drm')
    .filter((n) => /^card\d+$/.test(n) && !own.includes(n))
    .every((card) => (seatOfCard(io, `sys/class/drm/${card}`) ?? 'seat0') !== seat);
}
