// gpu-hookctl's side of the bus: plain method calls and property reads on org.gpuhookd1, and the
// daemon's errors turned into the one line a person needs (who is not running, who holds what,
// which group grants access).

import * as dbus from 'dbus-next';
import type { GpuMode, GpuView } from '../daemon/gpu-service';
import { BUS_NAME, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH } from '../dbus/contract';
import { withTimeout } from '../host/host-io';
import type { BusSignal } from './monitor-events';

export class DaemonCallError extends Error {
  constructor(
    message: string,
    readonly dbusName: string,
  ) {
    super(message);
    this.name = 'DaemonCallError';
  }
}

/** A GPU as the daemon shows it on the bus: the service's view, and the object that carries it. */
export interface GpuStatus extends GpuView {
  path: string;
}

export interface StepSignal {
  gpu: string;
  description: string;
  ms: number;
}

/** --bus wins over GPU_HOOKD_BUS; neither: undefined, the system bus. */
export function resolveBusAddress(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return flag || env.GPU_HOOKD_BUS || undefined;
}

export class DaemonClient {
  private constructor(
    private readonly bus: dbus.MessageBus,
    /** Rejects when the connection fails; every request races it, else a call on a dead bus never settles. */
    private readonly broken: Promise<never>,
  ) {}

  /** The system bus, or `address` (GPU_HOOKD_BUS / --bus: a private bus for the demo and tests). */
  static connect(address?: string): DaemonClient {
    const bus = address ? dbus.sessionBus({ busAddress: address }) : dbus.systemBus();
    const where = address ? `the D-Bus bus ${address}` : 'the D-Bus system bus';
    const broken = new Promise<never>((_, reject) => {
      bus.on('error', (e: Error) => reject(new DaemonCallError(`cannot connect to ${where} (${e.message}): is dbus running, and is the address right?`, '')));
    });
    broken.catch(() => undefined);
    return new DaemonClient(bus, broken);
  }

  close(): void {
    this.bus.disconnect();
  }

  async call(member: string, signature = '', body: unknown[] = [], timeoutMs = 120_000): Promise<unknown[]> {
    const msg = new dbus.Message({ destination: BUS_NAME, path: MANAGER_PATH, interface: MANAGER_IFACE, member, signature, body });
    const reply = await this.request(msg, timeoutMs, `gpu-hookd did not answer ${member} within ${timeoutMs / 1000} s`);
    return reply?.body ?? [];
  }

  /** Whether org.gpuhookd1 has an owner, and whether the bus could start it (D-Bus activation).
   *  Asks the bus itself, never the name, so it cannot start the daemon. */
  async nameState(): Promise<{ owned: boolean; activatable: boolean }> {
    const ask = async (member: string, signature = '', body: unknown[] = []): Promise<unknown> => {
      const msg = new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member, signature, body });
      const reply = await this.request(msg, 10_000, `the D-Bus bus did not answer ${member} within 10 s`);
      return reply?.body[0];
    };
    const owned = (await ask('NameHasOwner', 's', [BUS_NAME])) === true;
    const activatable = ((await ask('ListActivatableNames')) as string[] | undefined)?.includes(BUS_NAME) ?? false;
    return { owned, activatable };
  }

  private request(msg: dbus.Message, timeoutMs: number, late: string): Promise<dbus.Message | null> {
    return withTimeout(Promise.race([this.bus.call(msg), this.broken]), timeoutMs, () => new DaemonCallError(late, 'org.gpuhookd1.Error.Timeout'));
  }

  async getProperty(path: string, iface: string, name: string): Promise<unknown> {
    const msg = new dbus.Message({
      destination: BUS_NAME,
      path,
      interface: 'org.freedesktop.DBus.Properties',
      member: 'Get',
      signature: 'ss',
      body: [iface, name],
    });
    const reply = await this.request(msg, 10_000, 'gpu-hookd did not answer a property read within 10 s');
    return (reply?.body[0] as dbus.Variant).value;
  }

  async getAll(path: string, iface: string): Promise<Record<string, unknown>> {
    const msg = new dbus.Message({ destination: BUS_NAME, path, interface: 'org.freedesktop.DBus.Properties', member: 'GetAll', signature: 's', body: [iface] });
    const reply = await this.request(msg, 10_000, 'gpu-hookd did not answer a property read within 10 s');
    const props = (reply?.body[0] ?? {}) as Record<string, dbus.Variant>;
    return unwrapVariants(props);
  }

  async status(): Promise<{ version: string; status: string; gpus: GpuStatus[] }> {
    const manager = await this.getAll(MANAGER_PATH, MANAGER_IFACE);
    const gpus: GpuStatus[] = [];
    for (const path of manager.Gpus as string[]) {
      const p = await this.getAll(path, GPU_IFACE);
      gpus.push({
        path,
        address: p.Address as string,
        name: p.Name as string,
        iommuGroup: p.IommuGroup as string,
        functions: p.Functions as string[],
        drivers: p.Drivers as Record<string, string>,
        hostDrivers: p.HostDrivers as Record<string, string>,
        leftovers: p.Leftovers as Record<string, string>,
        mode: p.Mode as GpuMode,
        owner: p.Owner as string,
        lastError: p.LastError as string,
        bootVga: p.BootVga as boolean,
        resetMethods: p.ResetMethods as Record<string, string[]>,
      });
    }
    return { version: manager.Version as string, status: manager.Status as string, gpus };
  }

  /**
   * Calls onSignal for every signal of gpu-hookd's objects (its transition signals, PropertiesChanged)
   * and for it joining or leaving the bus, across restarts, until the returned function is called
   * (it also drops the match rules). Property values arrive unwrapped.
   */
  async followDaemon(onSignal: (s: BusSignal) => void): Promise<() => Promise<void>> {
    const rules = [
      `type='signal',sender='${BUS_NAME}',path_namespace='${MANAGER_PATH}'`,
      `type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${BUS_NAME}'`,
    ];
    const match = (member: 'AddMatch' | 'RemoveMatch', rule: string): Promise<unknown> =>
      this.request(
        new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member, signature: 's', body: [rule] }),
        10_000,
        `the D-Bus bus did not answer ${member} within 10 s`,
      );
    const listener = (msg: dbus.Message): void => {
      if (msg.type !== dbus.MessageType.SIGNAL || !msg.path || !msg.interface || !msg.member) return;
      const body = msg.member === 'PropertiesChanged' ? [msg.body[0], unwrapVariants(msg.body[1] as Record<string, dbus.Variant>), msg.body[2]] : msg.body;
      onSignal({ path: msg.path, interface: msg.interface, member: msg.member, body });
    };
    this.bus.on('message', listener);
    for (const rule of rules) await match('AddMatch', rule);
    return async () => {
      this.bus.off('message', listener);
      for (const rule of rules) await match('RemoveMatch', rule);
    };
  }

  /** Rejects when the connection to the bus breaks (a follower's end). */
  connectionLost(): Promise<never> {
    return this.broken;
  }

  /** Calls onStep for every StepFinished signal until the returned function is called (it also drops the match rule). */
  async followSteps(onStep: (s: StepSignal) => void): Promise<() => Promise<void>> {
    const rule = `type='signal',sender='${BUS_NAME}',interface='${MANAGER_IFACE}',member='StepFinished'`;
    const match = (member: 'AddMatch' | 'RemoveMatch'): Promise<unknown> =>
      this.request(
        new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member, signature: 's', body: [rule] }),
        10_000,
        `the D-Bus bus did not answer ${member} within 10 s`,
      );
    await match('AddMatch');
    const listener = (msg: dbus.Message): void => {
      if (msg.type !== dbus.MessageType.SIGNAL || msg.interface !== MANAGER_IFACE || msg.member !== 'StepFinished') return;
      const [gpu, description, us] = msg.body as [string, string, bigint];
      onStep({ gpu, description, ms: Number(us) / 1000 });
    };
    this.bus.on('message', listener);
    return async () => {
      this.bus.off('message', listener);
      await match('RemoveMatch');
    };
  }
}

function unwrapVariants(props: Record<string, dbus.Variant>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v.value]));
}

/** One line for a failed call: what happened and what to do. */
export function explainCallError(e: unknown, accessGroup = 'gpuhookd'): string {
  const name = (e as { type?: string }).type ?? '';
  const text = (e as { text?: string; message?: string }).text ?? (e as Error).message ?? String(e);
  if (name === 'org.freedesktop.DBus.Error.ServiceUnknown' || name === 'org.freedesktop.DBus.Error.NameHasNoOwner') {
    return 'gpu-hookd is not running: start it with `systemctl start gpu-hookd` (status: `systemctl status gpu-hookd`)';
  }
  if (name === 'org.freedesktop.DBus.Error.AccessDenied' || name === 'org.gpuhookd1.Error.AccessDenied') {
    return name.startsWith('org.gpuhookd1')
      ? `permission denied: ${text}`
      : `permission denied: changing GPUs needs root or membership of group ${accessGroup} (sudo usermod -aG ${accessGroup} $USER, then log in again)`;
  }
  return text.replace(/\s*\n\s*/g, ' ');
}
