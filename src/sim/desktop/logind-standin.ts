// A stand-in for systemd-logind on the simulated host's bus, with logind's real bus name, object paths,
// interfaces and signatures: ListSessions, GetSession, TerminateSession, session objects with
// Seat/Type/Class/State, and SessionNew/SessionRemoved. It runs as its own node process (this file is
// also its entry point). Tests script it: which sessions exist, how long a session takes to close,
// sessions that never close, D-Bus errors on chosen calls; it records every call with its arguments.
// As the real logind, it ends a display manager's session a moment after the unit's stop job is done
// (it follows systemd's JobRemoved), and a session's processes exit before SessionRemoved.

import * as dbus from 'dbus-next';
import type { LogindSession } from '../../host/logind-sessions';
import { endSimProcess } from '../sim-processes';
import { SYSTEMD_BUS_NAME, SYSTEMD_MANAGER_INTERFACE, SYSTEMD_PATH, SYSTEMD_UNIT_INTERFACE } from './systemd-standin';
import { StandinProcess, busLabelEscape, launchStandin, readOnlyProperties, runStandinMain, type StandinBus } from './standin-channel';

export const LOGIND_BUS_NAME = 'org.freedesktop.login1';
export const LOGIND_PATH = '/org/freedesktop/login1';
export const LOGIND_MANAGER_INTERFACE = 'org.freedesktop.login1.Manager';
export const LOGIND_SESSION_INTERFACE = 'org.freedesktop.login1.Session';

export interface SessionSpec {
  id: string;
  uid: number;
  user: string;
  /** Default "seat0"; "" for a session without a seat (ssh). */
  seat?: string;
  /** "x11", "wayland", "tty", "mir", "unspecified"; default "wayland". */
  type?: string;
  /** "user", "greeter", "lock-screen", "background"; default "user". */
  class?: string;
  /** "online", "active", "closing"; default "active". */
  state?: string;
  /** What TerminateSession does: the session disappears after latencyMs, or never (stays "closing"). */
  terminate?: { latencyMs?: number; never?: boolean };
  /**
   * A display manager's session: once systemd's stop job for `unit` is done, the session turns
   * "closing" after closingAfterMs (default 0) and is removed after removedAfterMs.
   */
  endsWithUnit?: { unit: string; closingAfterMs?: number; removedAfterMs: number };
  /** Its processes on the simulated host at `simRoot`: they exit when the session ends, before SessionRemoved. */
  pids?: number[];
  simRoot?: string;
}

/** A session as logind shows it: the same shape its client reads (src/host/logind-sessions.ts). */
export type SessionSnapshot = LogindSession;

export function sessionPath(id: string): string {
  return `${LOGIND_PATH}/session/${busLabelEscape(id)}`;
}

/** The logind stand-in as the test sees it. */
export class LogindStandin extends StandinProcess {
  constructor(bus: StandinBus) {
    super(__filename, bus, 'logind');
  }

  /** Adds a session (emitting SessionNew), or changes the given fields of an existing one. */
  async setSession(spec: SessionSpec): Promise<void> {
    await this.request('setSession', spec);
  }

  /** Ends a session now, as logind does once its processes are gone: they exit, then SessionRemoved. */
  async removeSession(id: string): Promise<void> {
    await this.request('removeSession', id);
  }

  /** The sessions that still exist, in creation order. */
  async sessions(): Promise<SessionSnapshot[]> {
    return (await this.request('sessions', null)) as SessionSnapshot[];
  }
}

export interface LogindStandinOptions {
  sessions?: SessionSpec[];
}

/** Installs the stand-in's bus policy, starts it and creates its sessions. Stop it with stop(). */
export function startLogindStandin(bus: StandinBus, options: LogindStandinOptions = {}): Promise<LogindStandin> {
  return launchStandin(bus, LOGIND_BUS_NAME, () => new LogindStandin(bus), async (standin) => {
    for (const session of options.sessions ?? []) await standin.setSession(session);
  });
}

// ---- the stand-in process ----

const { Interface } = dbus.interface;

type OptionalSpec = 'terminate' | 'endsWithUnit' | 'pids' | 'simRoot';

class Session {
  readonly object: SessionInterface;
  spec: Required<Omit<SessionSpec, OptionalSpec>> & Pick<SessionSpec, OptionalSpec>;

  constructor(spec: SessionSpec) {
    this.spec = { seat: 'seat0', type: 'wayland', class: 'user', state: 'active', ...spec };
    this.object = new SessionInterface(this);
  }

  get path(): string {
    return sessionPath(this.spec.id);
  }

  snapshot(): SessionSnapshot {
    const { id, uid, user, seat, type, class: klass, state } = this.spec;
    return { id, uid, user, seat, type, class: klass, state };
  }
}

class SessionInterface extends Interface {
  constructor(private readonly session: Session) {
    super(LOGIND_SESSION_INTERFACE);
  }
  get Id(): string {
    return this.session.spec.id;
  }
  get User(): [number, string] {
    return [this.session.spec.uid, `${LOGIND_PATH}/user/_${this.session.spec.uid}`];
  }
  get Name(): string {
    return this.session.spec.user;
  }
  get Seat(): [string, string] {
    const seat = this.session.spec.seat;
    return seat ? [seat, `${LOGIND_PATH}/seat/${busLabelEscape(seat)}`] : ['', '/'];
  }
  get Type(): string {
    return this.session.spec.type;
  }
  get Class(): string {
    return this.session.spec.class;
  }
  get State(): string {
    return this.session.spec.state;
  }
  get Active(): boolean {
    return this.session.spec.state === 'active';
  }
  get Remote(): boolean {
    return false;
  }
}
SessionInterface.configureMembers({
  properties: readOnlyProperties({ Id: 's', User: '(uo)', Name: 's', Seat: '(so)', Type: 's', Class: 's', State: 's', Active: 'b', Remote: 'b' }),
});

class LogindModel {
  private readonly sessions = new Map<string, Session>();
  readonly manager: ManagerInterface;

  constructor(private readonly bus: dbus.MessageBus) {
    this.manager = new ManagerInterface(this);
    bus.export(LOGIND_PATH, this.manager);
  }

  all(): Session[] {
    return [...this.sessions.values()];
  }

  get(id: string): Session {
    const session = this.sessions.get(id);
    if (!session) throw new dbus.DBusError('org.freedesktop.login1.NoSuchSession', `No session '${id}' known`);
    return session;
  }

  setSession(spec: SessionSpec): void {
    const existing = this.sessions.get(spec.id);
    if (existing) {
      existing.spec = { ...existing.spec, ...spec };
      Interface.emitPropertiesChanged(existing.object, { State: existing.spec.state, Active: existing.spec.state === 'active' }, []);
      return;
    }
    const session = new Session(spec);
    this.sessions.set(spec.id, session);
    this.bus.export(session.path, session.object);
    this.manager.SessionNew(spec.id, session.path);
  }

  terminate(session: Session): void {
    this.close(session);
    const behaviour = session.spec.terminate ?? {};
    if (behaviour.never) return;
    setTimeout(() => this.remove(session), behaviour.latencyMs ?? 0);
  }

  /** systemd ended a job of `unit` with `result`; the sessions a stopped display manager ran end a moment later. */
  unitJobEnded(unit: string, result: string, activeState: string): void {
    if (result !== 'done' || activeState !== 'inactive') return;
    for (const session of this.all()) {
      const ends = session.spec.endsWithUnit;
      if (ends?.unit !== unit) continue;
      setTimeout(() => this.close(session), ends.closingAfterMs ?? 0);
      setTimeout(() => this.remove(session), ends.removedAfterMs);
    }
  }

  private close(session: Session): void {
    if (this.sessions.get(session.spec.id) !== session || session.spec.state === 'closing') return;
    session.spec.state = 'closing';
    Interface.emitPropertiesChanged(session.object, { State: 'closing', Active: false }, []);
  }

  remove(session: Session): void {
    if (this.sessions.get(session.spec.id) !== session) return;
    const { pids = [], simRoot } = session.spec;
    if (simRoot) for (const pid of pids) endSimProcess(simRoot, pid);
    this.sessions.delete(session.spec.id);
    this.bus.unexport(session.path, session.object);
    this.manager.SessionRemoved(session.spec.id, session.path);
  }
}

class ManagerInterface extends Interface {
  constructor(private readonly model: LogindModel) {
    super(LOGIND_MANAGER_INTERFACE);
  }
  ListSessions(): unknown[] {
    return this.model.all().map((s) => [s.spec.id, s.spec.uid, s.spec.user, s.spec.seat, s.path]);
  }
  GetSession(id: string): string {
    return this.model.get(id).path;
  }
  TerminateSession(id: string): void {
    this.model.terminate(this.model.get(id));
  }
  SessionNew(id: string, path: string): unknown[] {
    return [id, path];
  }
  SessionRemoved(id: string, path: string): unknown[] {
    return [id, path];
  }
}
ManagerInterface.configureMembers({
  methods: {
    ListSessions: { outSignature: 'a(susso)' },
    GetSession: { inSignature: 's', outSignature: 'o' },
    TerminateSession: { inSignature: 's' },
  },
  signals: {
    SessionNew: { signature: 'so' },
    SessionRemoved: { signature: 'so' },
  },
});

/** Follows systemd's JobRemoved, as logind does, and tells the model each job's unit, result and the unit's state after it. */
function followSystemdJobs(bus: dbus.MessageBus, model: LogindModel): Promise<void> {
  const call = async (path: string, iface: string, member: string, signature: string, body: unknown[]): Promise<unknown[]> =>
    (await bus.call(new dbus.Message({ destination: SYSTEMD_BUS_NAME, path, interface: iface, member, signature, body })))?.body ?? [];
  bus.on('message', (msg: dbus.Message) => {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.path !== SYSTEMD_PATH || msg.member !== 'JobRemoved') return;
    const [, , unit, result] = msg.body as [number, string, string, string];
    void (async () => {
      const [unitPath] = (await call(SYSTEMD_PATH, SYSTEMD_MANAGER_INTERFACE, 'GetUnit', 's', [unit])) as [string];
      const [state] = (await call(unitPath, 'org.freedesktop.DBus.Properties', 'Get', 'ss', [SYSTEMD_UNIT_INTERFACE, 'ActiveState'])) as [dbus.Variant];
      model.unitJobEnded(unit, result, String(state.value));
    })().catch(() => undefined);
  });
  const rule = `type='signal',sender='${SYSTEMD_BUS_NAME}',path='${SYSTEMD_PATH}',member='JobRemoved'`;
  return bus
    .call(new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [rule] }))
    .then(() => undefined);
}

function serve(bus: dbus.MessageBus): Record<string, (args: never) => unknown> {
  const model = new LogindModel(bus);
  const following = followSystemdJobs(bus, model);
  following.catch(() => undefined); // reported to the setSession that needs it
  return {
    setSession: async (spec: SessionSpec) => {
      if (spec.endsWithUnit) await following;
      model.setSession(spec);
    },
    removeSession: (id: string) => model.remove(model.get(id)),
    sessions: () => model.all().map((s) => s.snapshot()),
  };
}

if (require.main === module) runStandinMain(LOGIND_BUS_NAME, serve);
