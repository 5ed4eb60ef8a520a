// The control channel between the one who starts a stand-in service of the simulated host (systemd,
// logind) and the stand-in, which runs in its own node process so that it is a real, separate peer
// on the bus. The starter (a test, the demo) drives it with JSON lines on the child's stdin; the
// child answers on stdout and also reports every D-Bus method call it receives (sender, object,
// member, arguments), so tests assert on exactly what was sent. The child ends itself when its stdin
// closes, in every phase: a starter that crashes leaves no stand-in behind.

import { spawn, type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';
import * as dbus from 'dbus-next';

/** The bus a stand-in joins: its address, and how to let the stand-in own its name there. */
export interface StandinBus {
  readonly address: string;
  /** Installs a policy file (name ending in .conf) on the bus and makes the bus follow it. */
  addPolicy(fileName: string, xml: string): Promise<void>;
}

/** One D-Bus method call as the stand-in received it; arguments as plain JSON (see toPlain). */
export interface StandinCall {
  sender: string;
  path: string;
  interface: string;
  member: string;
  args: unknown[];
}

/** Makes the next `times` calls of `member` (on `path`, when given) fail with this D-Bus error. */
export interface FailRule {
  member: string;
  path?: string;
  errorName: string;
  message: string;
  times?: number;
}

type Commands = Record<string, (args: never) => unknown>;

interface Request {
  id: number;
  command: string;
  args: unknown;
}

type ChildLine = { ready: true } | { id: number; result?: unknown; error?: string } | { call: StandinCall };

/** D-Bus values as JSON: variants as {signature, value}, byte arrays as number[], 64-bit integers as numbers. */
export function toPlain(value: unknown): unknown {
  if (value instanceof dbus.Variant) return { signature: value.signature, value: toPlain(value.value) };
  if (Buffer.isBuffer(value)) return [...value];
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
  }
  return value;
}

// ---- starter side ----

/** The starter's handle on one stand-in process; subclasses add the stand-in's own commands. */
export class StandinProcess {
  private readonly received: StandinCall[] = [];
  private readonly waiters: { match: (c: StandinCall) => boolean; resolve: (c: StandinCall) => void }[] = [];
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly child: ChildProcess;
  private readonly started: Promise<void>;
  private nextId = 1;
  private exited = false;
  private stderr = '';

  /** Starts `script` (a compiled stand-in) with the bus as its system bus; see ready(). */
  constructor(script: string, bus: StandinBus, readonly what: string) {
    this.child = spawn(process.execPath, ['--enable-source-maps', script], {
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus.address },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.started = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill();
        reject(new Error(`the ${what} stand-in did not take its bus name within 10 s: ${this.stderr.trim()}`));
      }, 10_000);
      this.child.on('exit', (code) => {
        this.exited = true;
        clearTimeout(timer);
        const why = new Error(`the ${what} stand-in (pid ${this.child.pid}) exited with code ${code}: ${this.stderr.trim()}`);
        for (const p of this.pending.values()) p.reject(why);
        this.pending.clear();
        reject(why);
      });
      readline.createInterface({ input: this.child.stdout! }).on('line', (text) => {
        const line = JSON.parse(text) as ChildLine;
        if ('ready' in line) {
          clearTimeout(timer);
          resolve();
        } else if ('call' in line) {
          this.record(line.call);
        } else {
          this.settle(line);
        }
      });
    });
  }

  /** Resolves once the stand-in owns its bus name; rejects with its stderr if it could not. */
  ready(): Promise<void> {
    return this.started;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /**
   * Calls received so far, optionally only those of one member, in arrival order. Complete for every
   * call whose reply the test has already seen: the stand-in reports a call before it answers it, and
   * a round trip on the channel first brings in every report written before.
   */
  async calls(member?: string): Promise<StandinCall[]> {
    await this.request('ping', null);
    return this.received.filter((c) => member === undefined || c.member === member);
  }

  clearCalls(): void {
    this.received.length = 0;
  }

  /** Resolves with the first call (already received or future) of `member` that matches. */
  waitForCall(member: string, match: (c: StandinCall) => boolean = () => true, timeoutMs = 10_000): Promise<StandinCall> {
    const wanted = (c: StandinCall): boolean => c.member === member && match(c);
    const seen = this.received.find(wanted);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the ${this.what} stand-in received no matching ${member} call within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match: wanted,
        resolve: (c) => {
          clearTimeout(timer);
          resolve(c);
        },
      });
    });
  }

  failNext(rule: FailRule): Promise<void> {
    return this.request('failNext', rule) as Promise<void>;
  }

  /** Sends one command to the child and resolves with its answer. */
  request(command: string, args: unknown): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(`the ${this.what} stand-in has exited: ${this.stderr.trim()}`));
    const id = this.nextId++;
    const line: Request = { id, command, args };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin?.write(JSON.stringify(line) + '\n');
    });
  }

  /** Closes the channel (the child then leaves the bus and exits); kills it by PID if it lingers. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.kill(), 3_000);
    await gone;
    clearTimeout(timer);
  }

  private kill(): void {
    if (!this.exited && this.child.pid !== undefined) process.kill(this.child.pid, 'SIGKILL');
  }

  private record(call: StandinCall): void {
    this.received.push(call);
    for (const w of [...this.waiters]) {
      if (w.match(call)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(call);
      }
    }
  }

  private settle(line: { id: number; result?: unknown; error?: string }): void {
    const p = this.pending.get(line.id);
    if (!p) return;
    this.pending.delete(line.id);
    if (line.error !== undefined) p.reject(new Error(`the ${this.what} stand-in refused: ${line.error}`));
    else p.resolve(line.result);
  }
}

/**
 * Installs the stand-in's policy for `busName` on the bus, starts it with `make`, then lets `setup`
 * script it; if any of that fails, the stand-in is stopped again.
 */
export async function launchStandin<T extends StandinProcess>(bus: StandinBus, busName: string, make: () => T, setup: (standin: T) => Promise<void>): Promise<T> {
  await bus.addPolicy(`gpu-hookd-standin-${busName}.conf`, standinPolicy(busName));
  const standin = make();
  try {
    await standin.ready();
    await setup(standin);
    return standin;
  } catch (e) {
    await standin.stop();
    throw e;
  }
}

// ---- stand-in side ----

/**
 * Runs in the child: connects to the bus named by DBUS_SYSTEM_BUS_ADDRESS, lets `setup` export its
 * objects, takes `busName`, then serves commands until stdin closes.
 */
export async function serveStandin(busName: string, setup: (bus: dbus.MessageBus) => Commands): Promise<void> {
  const address = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  if (!address) throw new Error('DBUS_SYSTEM_BUS_ADDRESS is not set: a stand-in only runs on a private bus its starter names there');
  const bus = dbus.sessionBus({ busAddress: address });
  const send = (line: ChildLine): void => void process.stdout.write(JSON.stringify(line) + '\n');
  const rules: FailRule[] = [];

  bus.addMethodHandler((msg: dbus.Message): boolean => {
    // Introspection and property reads are the bus library's business, not the behaviour under test.
    if (msg.interface?.startsWith('org.freedesktop.DBus.')) return false;
    send({ call: { sender: msg.sender, path: msg.path, interface: msg.interface, member: msg.member, args: toPlain(msg.body ?? []) as unknown[] } });
    const rule = rules.find((r) => r.member === msg.member && (r.path === undefined || r.path === msg.path));
    if (!rule) return false;
    rule.times = (rule.times ?? 1) - 1;
    if (rule.times <= 0) rules.splice(rules.indexOf(rule), 1);
    // dbus-next's typings declare newError(string); the library takes the call being answered.
    bus.send(dbus.Message.newError(msg as unknown as string, rule.errorName, rule.message));
    return true;
  });

  const commands: Commands = {
    ...setup(bus),
    failNext: (rule: FailRule) => void rules.push({ ...rule }),
    ping: () => null,
  };
  // Listening before taking the name: a starter gone while the bus is slow to answer ends us too.
  const input = readline.createInterface({ input: process.stdin });
  input.on('line', (text) => {
    const request = JSON.parse(text) as Request;
    const handler = commands[request.command];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${request.command}`);
        return handler(request.args as never);
      })
      .then(
        (result) => send({ id: request.id, result: result ?? null }),
        (e: unknown) => send({ id: request.id, error: (e as Error).message }),
      );
  });
  input.on('close', () => {
    bus.disconnect();
    process.exit(0);
  });

  const reply = await bus.requestName(busName, dbus.NameFlag.DO_NOT_QUEUE);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) throw new Error(`could not own ${busName} on ${address} (reply ${reply}): is another stand-in running?`);
  send({ ready: true });
}

/** The entry point of a stand-in script: any failure is printed and ends the child. */
export function runStandinMain(busName: string, setup: (bus: dbus.MessageBus) => Commands): void {
  serveStandin(busName, setup).catch((e: unknown) => {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  });
}

/** A policy for a stand-in's bus name: root owns it and calls anything; others introspect and read properties. */
export function standinPolicy(busName: string): string {
  const anyone = (attrs: string): string => `    <allow send_destination="${busName}" ${attrs}/>`;
  return [
    '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"',
    ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">',
    '<busconfig>',
    '  <policy user="root">',
    `    <allow own="${busName}"/>`,
    `    <allow send_destination="${busName}"/>`,
    '  </policy>',
    '  <policy context="default">',
    anyone('send_interface="org.freedesktop.DBus.Introspectable"'),
    anyone('send_interface="org.freedesktop.DBus.Peer"'),
    anyone('send_interface="org.freedesktop.DBus.Properties" send_member="Get"'),
    anyone('send_interface="org.freedesktop.DBus.Properties" send_member="GetAll"'),
    '  </policy>',
    '</busconfig>',
    '',
  ].join('\n');
}

/** systemd's bus_label_escape: every byte but [A-Za-z0-9] (and a leading digit) becomes _xx. */
export function busLabelEscape(label: string): string {
  if (label === '') return '_';
  return [...Buffer.from(label, 'utf8')]
    .map((byte, i) => {
      const c = String.fromCharCode(byte);
      const keep = /[A-Za-z]/.test(c) || (i > 0 && /[0-9]/.test(c));
      return keep ? c : `_${byte.toString(16).padStart(2, '0')}`;
    })
    .join('');
}

/** configureMembers' properties for read-only properties, from their D-Bus signatures by name. */
export function readOnlyProperties(signatures: Record<string, string>): Record<string, dbus.interface.PropertyOptions> {
  return Object.fromEntries(Object.entries(signatures).map(([name, signature]) => [name, { signature, access: dbus.interface.ACCESS_READ }]));
}
