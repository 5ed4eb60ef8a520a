// Calling other services on the system bus (systemd, logind) with dbus-next's low-level messages:
// no proxy objects, because a proxy introspects first (one more round trip per object) and adds a
// match rule per signal listener that dbus-next never removes. Signals are watched through one
// match rule per watcher, installed before the call whose outcome they report and removed at close.

import * as dbus from 'dbus-next';
import { withTimeout } from './host-io';

/** The default D-Bus method call timeout (libdbus uses 25 s as well). */
export const DBUS_CALL_TIMEOUT_MS = 25_000;

export interface MethodCall {
  destination: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
}

/** A call that failed: the D-Bus error name and the service's own message. */
export class BusCallError extends Error {
  constructor(
    readonly call: string,
    readonly errorName: string,
    readonly detail: string,
  ) {
    super(`${call} failed: ${detail} (${errorName})`);
    this.name = 'BusCallError';
  }

  /** Nobody owns the destination name: the service is not running on this bus. */
  get serviceMissing(): boolean {
    return this.errorName === 'org.freedesktop.DBus.Error.ServiceUnknown' || this.errorName === 'org.freedesktop.DBus.Error.NameHasNoOwner';
  }
}

/** Sends a method call and resolves with the reply's body; bounded, and errors name the call. */
export async function callMethod(bus: dbus.MessageBus, call: MethodCall, timeoutMs = DBUS_CALL_TIMEOUT_MS): Promise<unknown[]> {
  const name = `${call.interface}.${call.member}`;
  const message = new dbus.Message({
    destination: call.destination,
    path: call.path,
    interface: call.interface,
    member: call.member,
    signature: call.signature ?? '',
    body: call.body ?? [],
  });
  const reply = await withTimeout(
    bus.call(message).catch((e: unknown) => {
      if (e instanceof dbus.DBusError) throw new BusCallError(name, e.type, e.text);
      throw new BusCallError(name, 'org.freedesktop.DBus.Error.Disconnected', e instanceof Error ? e.message : String(e));
    }),
    timeoutMs,
    () => new BusCallError(name, 'org.freedesktop.DBus.Error.NoReply', `${call.destination} did not answer within ${timeoutMs / 1000} s`),
  );
  return reply?.body ?? [];
}

/** Every property of `iface` on an object, variants unwrapped. */
export async function getAllProperties(bus: dbus.MessageBus, destination: string, path: string, iface: string): Promise<Record<string, unknown>> {
  const [props] = (await callMethod(bus, {
    destination,
    path,
    interface: 'org.freedesktop.DBus.Properties',
    member: 'GetAll',
    signature: 's',
    body: [iface],
  })) as [Record<string, dbus.Variant>];
  return Object.fromEntries(Object.entries(props ?? {}).map(([k, v]) => [k, v instanceof dbus.Variant ? v.value : v]));
}

export interface SignalMatch {
  sender: string;
  path: string;
  interface: string;
  member: string;
}

interface Waiter {
  key: string;
  resolve: (body: unknown[]) => void;
}

/**
 * Collects one signal, keyed by a field of its body (a job path, a session id). Start it (which
 * installs the match rule) before making the call whose end the signal announces; signals that
 * arrive before anyone waits for their key are kept until the last waiter is done, so a reply
 * that comes after its signal loses nothing.
 */
export class SignalWatch {
  private readonly subscription: BusMatch;
  private readonly waiters = new Set<Waiter>();
  private readonly early = new Map<string, unknown[]>();
  private pending = 0;
  private readonly onMessage = (msg: dbus.Message): void => {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.interface !== this.match.interface || msg.member !== this.match.member || msg.path !== this.match.path) return;
    const key = String(msg.body[this.keyIndex]);
    const waiter = [...this.waiters].find((w) => w.key === key);
    if (waiter) {
      this.waiters.delete(waiter);
      waiter.resolve(msg.body);
    } else if (this.pending > 0) {
      this.early.set(key, msg.body);
    }
  };

  constructor(
    bus: dbus.MessageBus,
    private readonly match: SignalMatch,
    private readonly keyIndex: number,
  ) {
    const m = match;
    this.subscription = new BusMatch(bus, `type='signal',sender='${m.sender}',path='${m.path}',interface='${m.interface}',member='${m.member}'`, this.onMessage);
  }

  /** Installs the match rule once; later calls resolve at once. */
  start(): Promise<void> {
    return this.subscription.start();
  }

  /**
   * Runs `call` (which returns the key of the signal to wait for) and waits for that signal;
   * rejects with `onTimeout()` when it does not come within `timeoutMs` of the call's reply.
   */
  async callAndWait(call: () => Promise<string>, timeoutMs: number, onTimeout: (key: string) => Error): Promise<unknown[]> {
    await this.start();
    this.pending++;
    try {
      const key = await call();
      const seen = this.early.get(key);
      if (seen) return seen;
      let waiter: Waiter | undefined;
      const arrived = new Promise<unknown[]>((resolve) => {
        waiter = { key, resolve };
        this.waiters.add(waiter);
      });
      try {
        return await withTimeout(arrived, timeoutMs, () => onTimeout(key));
      } finally {
        if (waiter) this.waiters.delete(waiter);
      }
    } finally {
      if (--this.pending === 0) this.early.clear();
    }
  }

  /** Removes the match rule (dbus-next would keep it for the connection's lifetime). */
  close(): Promise<void> {
    return this.subscription.close();
  }
}

/**
 * One match rule on the bus and the listener for what it lets through: installed once by start()
 * (the listener first, so nothing matched is missed), removed with the listener by close().
 */
export class BusMatch {
  private installed: Promise<void> | undefined;

  constructor(
    private readonly bus: dbus.MessageBus,
    private readonly rule: string,
    private readonly onMessage: (msg: dbus.Message) => void,
  ) {}

  start(): Promise<void> {
    this.installed ??= (async () => {
      this.bus.on('message', this.onMessage);
      await this.call('AddMatch');
    })().catch((e: unknown) => {
      this.bus.off('message', this.onMessage);
      this.installed = undefined;
      throw e;
    });
    return this.installed;
  }

  async close(): Promise<void> {
    if (!this.installed) return;
    const installed = this.installed;
    this.installed = undefined;
    this.bus.off('message', this.onMessage);
    try {
      await installed;
      await this.call('RemoveMatch');
    } catch {
      // The rule was never installed or the connection is gone: nothing is left on the bus.
    }
  }

  private async call(member: 'AddMatch' | 'RemoveMatch'): Promise<void> {
    await callMethod(this.bus, { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member, signature: 's', body: [this.rule] });
  }
}
