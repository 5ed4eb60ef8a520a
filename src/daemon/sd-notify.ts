// systemd's notify protocol (sd_notify(3)): datagrams "READY=1", "STATUS=...", "WATCHDOG=1",
// "STOPPING=1" to the unix socket named by NOTIFY_SOCKET, a path or an abstract name ("@...").
// Silent when NOTIFY_SOCKET is unset (not started by systemd, or Type=simple).
//
// Node has no unix datagram sockets, so one C function does the sending (sd-notify-send.c, built
// by node-gyp at npm install). It runs in this process, so systemd sees the daemon's own PID, as
// NotifyAccess=main requires; a helper process (systemd-notify) would not be the main PID. The
// unix-dgram package was the other candidate: it passes sizeof(sockaddr_un) as the address length,
// which never matches an abstract socket's name, so it cannot notify a systemd using one.

import * as os from 'node:os';
import * as path from 'node:path';

export interface Notifier {
  /** True when NOTIFY_SOCKET is set, so messages reach systemd. */
  readonly enabled: boolean;
  /** Half of WATCHDOG_USEC in milliseconds when systemd watches this process, else undefined. */
  readonly watchdogIntervalMs: number | undefined;
  /** READY=1 (with a STATUS= line when given): the service is up; for Type=notify, once the bus name is owned. */
  ready(status?: string): void;
  /** STATUS=...: the one line `systemctl status` shows. */
  status(text: string): void;
  /** STOPPING=1: shutdown has begun. */
  stopping(): void;
  /** WATCHDOG=1: still alive. */
  watchdog(): void;
  /** Sends WATCHDOG=1 now and every watchdogIntervalMs; returns the function that stops it. */
  startWatchdog(): () => void;
}

export interface NotifierOptions {
  /** Told when a datagram could not be sent; the default prints a process warning. */
  onError?: (error: Error) => void;
  /** The process whose WATCHDOG_PID must match; default this one. */
  pid?: number;
}

/** Sends one datagram to a unix socket (a path or "@abstract"); 0 when sent, else the errno. */
export type SendDatagram = (address: string, datagram: Buffer) => number;

const ADDON = path.resolve(__dirname, '../../../build/Release/sd_notify_send.node');
let sendDatagram: SendDatagram | undefined;

/** The addon's sender, loaded once; also journald's native protocol goes through it (logger.ts). */
export function loadSender(): SendDatagram {
  if (!sendDatagram) {
    const addon = { exports: {} as { send?: SendDatagram } };
    try {
      process.dlopen(addon, ADDON);
    } catch (e) {
      throw new Error(
        `cannot load the sd_notify sender ${ADDON} (${(e as Error).message.split('\n')[0]}): ` +
          'run npm install, which builds it with node-gyp (needs python3, make and g++)',
      );
    }
    if (typeof addon.exports.send !== 'function') throw new Error(`${ADDON} does not export send(): rebuild it with npm install`);
    sendDatagram = addon.exports.send;
  }
  return sendDatagram;
}

const ERRNO_NAMES = new Map(Object.entries(os.constants.errno).map(([name, code]) => [code, name]));

export function createNotifier(env: NodeJS.ProcessEnv = process.env, options: NotifierOptions = {}): Notifier {
  const socket = env.NOTIFY_SOCKET || undefined;
  if (socket !== undefined && !/^[/@]/.test(socket)) {
    throw new Error(
      `NOTIFY_SOCKET=${JSON.stringify(socket)} is neither a socket path nor an abstract name ("@..."): ` +
        'gpu-hookd cannot tell systemd it is ready; run it from a unit with Type=notify on the host',
    );
  }
  if (socket !== undefined && Buffer.byteLength(socket) > 107) {
    throw new Error(`NOTIFY_SOCKET is longer than a unix socket address can be (107 bytes): ${socket}`);
  }
  const send = socket === undefined ? undefined : loadSender();
  const onError = options.onError ?? ((e: Error) => process.emitWarning(e.message));
  const watchdogIntervalMs = watchdogInterval(env, options.pid ?? process.pid);

  const notify = (lines: string[]): void => {
    if (!send || socket === undefined) return;
    const datagram = lines.join('\n');
    const errno = send(socket, Buffer.from(datagram));
    if (errno !== 0) {
      const code = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
      onError(new Error(`telling systemd ${JSON.stringify(datagram)} through ${socket} failed: ${code}`));
    }
  };

  return {
    enabled: send !== undefined,
    watchdogIntervalMs,
    ready: (status) => notify(status === undefined ? ['READY=1'] : ['READY=1', statusLine(status)]),
    status: (text) => notify([statusLine(text)]),
    stopping: () => notify(['STOPPING=1']),
    watchdog: () => notify(['WATCHDOG=1']),
    startWatchdog: () => {
      if (watchdogIntervalMs === undefined || !send) return () => undefined;
      notify(['WATCHDOG=1']);
      const timer = setInterval(() => notify(['WATCHDOG=1']), watchdogIntervalMs);
      // The watchdog keeps systemd informed; it must not be what keeps the process running.
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}

// One datagram field is one line: a newline in the text would start a bogus field.
function statusLine(text: string): string {
  return `STATUS=${text.replace(/[\r\n]+/g, ' ')}`;
}

/** Half of WATCHDOG_USEC in ms, when it is set and WATCHDOG_PID is unset or this process. */
function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && env.WATCHDOG_PID !== String(pid)) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}
