// What `gpu-hookctl monitor` prints: each signal of the daemon as one event (plain data), and each
// event as one line, readable or JSON. The bus side is in daemon-client.ts (followDaemon).

import { BUS_NAME, GPU_IFACE, gpuAddressOfPath, MANAGER_IFACE, MANAGER_PATH } from '../dbus/contract';

/** A signal as it came off the bus, its variants already unwrapped. */
export interface BusSignal {
  path: string;
  interface: string;
  member: string;
  body: readonly unknown[];
}

export type MonitorEvent =
  /** At the start, and when the daemon joins the bus: its state then. */
  | { event: 'daemon-state'; version: string; status: string }
  | { event: 'gpu-state'; gpu: string; mode: string; owner: string; lastError: string }
  /** At the start: the daemon is not on the bus (yet). */
  | { event: 'daemon-absent' }
  | { event: 'daemon-changed'; changed: Record<string, unknown> }
  | { event: 'gpu-changed'; gpu: string; changed: Record<string, unknown> }
  | { event: 'transition-started'; gpu: string; operation: string; vm: string }
  | { event: 'step-finished'; gpu: string; step: string; durationMs: number }
  | { event: 'transition-finished'; gpu: string; operation: string; ok: boolean; error: string }
  | { event: 'daemon-started' }
  | { event: 'daemon-stopped' };

/** The event a signal stands for; undefined for a signal the monitor does not show. */
export function monitorEvent(signal: BusSignal): MonitorEvent | undefined {
  const { path, member, body } = signal;
  if (signal.interface === 'org.freedesktop.DBus' && member === 'NameOwnerChanged' && body[0] === BUS_NAME) {
    return body[2] === '' ? { event: 'daemon-stopped' } : { event: 'daemon-started' };
  }
  if (signal.interface === 'org.freedesktop.DBus.Properties' && member === 'PropertiesChanged') {
    const [iface, changed] = body as [string, Record<string, unknown>];
    if (path === MANAGER_PATH && iface === MANAGER_IFACE) return { event: 'daemon-changed', changed };
    const gpu = gpuAddressOfPath(path);
    if (gpu && iface === GPU_IFACE) return { event: 'gpu-changed', gpu, changed };
    return undefined;
  }
  if (signal.interface !== MANAGER_IFACE) return undefined;
  const gpu = gpuAddressOfPath(body[0] as string) ?? String(body[0]);
  switch (member) {
    case 'TransitionStarted':
      return { event: 'transition-started', gpu, operation: body[1] as string, vm: body[2] as string };
    case 'StepFinished':
      return { event: 'step-finished', gpu, step: body[1] as string, durationMs: Number(body[2] as bigint) / 1000 };
    case 'TransitionFinished':
      return { event: 'transition-finished', gpu, operation: body[1] as string, ok: body[2] as boolean, error: body[3] as string };
    default:
      return undefined;
  }
}

/** The daemon's state as events: its line, then each GPU's. */
export function stateEvents(s: { version: string; status: string; gpus: readonly { address: string; mode: string; owner: string; lastError: string }[] }): MonitorEvent[] {
  return [
    { event: 'daemon-state', version: s.version, status: s.status },
    ...s.gpus.map((g): MonitorEvent => ({ event: 'gpu-state', gpu: g.address, mode: g.mode, owner: g.owner, lastError: g.lastError })),
  ];
}

/** One JSON object: the event with its time first. */
export function monitorJsonLine(e: MonitorEvent, at: Date): string {
  return JSON.stringify({ time: at.toISOString(), ...e }) + '\n';
}

/** One readable line: local time, then who and what. */
export function monitorTextLine(e: MonitorEvent, at: Date): string {
  return `${clock(at)}  ${describe(e)}\n`;
}

function describe(e: MonitorEvent): string {
  switch (e.event) {
    case 'daemon-state':
      return `gpu-hookd ${e.version}: ${e.status}`;
    case 'gpu-state':
      return `${e.gpu}  ${properties({ Mode: e.mode, Owner: e.owner, LastError: e.lastError })}`;
    case 'daemon-absent':
      return 'gpu-hookd is not on the bus: waiting for it';
    case 'daemon-started':
      return 'gpu-hookd is on the bus';
    case 'daemon-stopped':
      return 'gpu-hookd left the bus';
    case 'daemon-changed':
      return `gpu-hookd  ${properties(e.changed)}`;
    case 'gpu-changed':
      return `${e.gpu}  ${properties(e.changed)}`;
    case 'transition-started':
      return `${e.gpu}  ${e.operation} ${e.vm ? `for VM ${e.vm}` : 'by hand'} started`;
    case 'step-finished':
      return `${e.gpu}  ${e.step} (${Math.round(e.durationMs * 10) / 10} ms)`;
    case 'transition-finished':
      return `${e.gpu}  ${e.operation} ${e.ok ? 'done' : `failed: ${e.error}`}`;
  }
}

/** Name=value pairs in the order given; a string is quoted only when it must be (empty, spaces). */
function properties(changed: Record<string, unknown>): string {
  return Object.entries(changed)
    .map(([name, value]) => `${name}=${typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}`)
    .join(' ');
}

function clock(at: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, '0')}`;
}
