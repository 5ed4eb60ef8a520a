// The daemon's log: pino, structured JSON by default. Under systemd (stdout is the journal stream
// named by JOURNAL_STREAM) each event is one line "<N>message key=value ...": the <N> prefix is the
// syslog priority journald files it under (sd-daemon(3)), so `journalctl -p warning` filters by
// level and the fields stay readable without a JSON viewer. The journal stamps time, PID and host.
// A stream line reaches the journal as MESSAGE only; given journald's native socket, each event is
// sent there instead as one entry: MESSAGE is the same line, and its fields are journal fields too
// (gpu -> GPU, durationMs -> DURATION_MS, MESSAGE_ID as it is), so `journalctl MESSAGE_ID=... GPU=...`
// selects it. An entry the socket refuses goes to the stream as a line.

import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import pino, { type Logger } from 'pino';
import { LOG_LEVELS, type LogLevel } from './config-schema';
import { loadSender, type SendDatagram } from './sd-notify';

/** journald's socket for its native protocol (systemd-journald.service(8)). */
export const JOURNAL_SOCKET = '/run/systemd/journal/socket';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: LogLevel;
  /** Journal line format instead of JSON; default: when stdout is the journal stream (isJournalStream). */
  journal?: boolean;
  /** Where lines go; default stdout, written synchronously so nothing is lost when the process dies. */
  destination?: { write(line: string): unknown };
  /** Read for JOURNAL_STREAM when `journal` is not given; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** In journal format: send each event as a native journal entry to this socket (JOURNAL_SOCKET
   *  under systemd); absent: stream lines only. */
  journalSocket?: string;
  /** What sends the entry; default the sd_notify addon's sender. */
  sendDatagram?: SendDatagram;
}

/** A level name nobody knows; `kind` makes the D-Bus layer answer InvalidArgument. */
export class LogLevelError extends Error {
  readonly kind = 'InvalidArgument';

  constructor(level: string) {
    super(
      `unknown log level ${JSON.stringify(level)}: use one of ${LOG_LEVELS.join(', ')} ` +
        `(or a syslog level: ${Object.keys(FROM_SYSLOG).join(', ')})`,
    );
    this.name = 'LogLevelError';
  }
}

// sd-daemon(3): <7> debug, <6> info, <4> warning, <3> err, <2> crit.
const SYSLOG_PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

// org.freedesktop.LogControl1 speaks syslog level names.
const FROM_SYSLOG: Record<string, LogLevel> = {
  emerg: 'fatal',
  alert: 'fatal',
  crit: 'fatal',
  err: 'error',
  warning: 'warn',
  notice: 'info',
  info: 'info',
  debug: 'debug',
};
const TO_SYSLOG: Record<LogLevel, string> = {
  fatal: 'crit',
  error: 'err',
  warn: 'warning',
  info: 'info',
  debug: 'debug',
  trace: 'debug',
};

// pino 9 (the newest that runs on Debian 12's Node 18) copies the level into a child when it is made
// and never again: setLogLevel reaches the children the root logger made through this list.
const descendants = new WeakMap<Logger, WeakRef<Logger>[]>();

export function createLogger(options: LoggerOptions = {}): Logger {
  const journal = options.journal ?? isJournalStream(options.env ?? process.env);
  const sink = options.destination ?? pino.destination({ fd: 1, sync: true });
  const socket = options.journalSocket;
  const send = journal && socket ? (options.sendDatagram ?? loadSender()) : undefined;
  const writeJournal = (json: string): void => {
    if (send && socket && send(socket, journalEntry(json)) === 0) return;
    sink.write(journalLine(json));
  };
  let family: WeakRef<Logger>[] = [];
  const root = pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      timestamp: journal ? false : pino.stdTimeFunctions.isoTime,
      // children inherit onChild, so grandchildren land here too
      onChild: (child: Logger) => {
        if (family.length >= 64) family = family.filter((ref) => ref.deref() !== undefined);
        family.push(new WeakRef(child));
        descendants.set(root, family);
      },
    },
    journal ? { write: writeJournal } : sink,
  );
  return root;
}

/**
 * True when `fd` (stdout) is the stream systemd connected to the journal: JOURNAL_STREAM holds its
 * "device:inode", so a redirected stdout under systemd is told apart from the journal.
 */
export function isJournalStream(env: NodeJS.ProcessEnv, fd = 1): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!match) return false;
  try {
    const stat = fs.fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(match[1]) && stat.ino === BigInt(match[2]);
  } catch {
    return false;
  }
}

/** One pino JSON line as "<N>message key=value ...\n". */
export function journalLine(json: string): string {
  const { priority, text } = readableEvent(json);
  return `<${priority}>${text}\n`;
}

/** An event's syslog priority and its one readable line, "message key=value ...". */
function readableEvent(json: string): { priority: number; text: string } {
  const { level, msg, ...fields } = JSON.parse(json) as Record<string, unknown>;
  const parts = [oneLine(typeof msg === 'string' ? msg : '')];
  for (const [key, value] of Object.entries(fields)) parts.push(`${key}=${fieldValue(value)}`);
  return { priority: SYSLOG_PRIORITY[level as number] ?? 6, text: parts.filter(Boolean).join(' ') };
}

/**
 * One pino JSON line as a native journal entry: PRIORITY, SYSLOG_IDENTIFIER, MESSAGE (the same
 * readable line as on the stream, so `journalctl` shows what it showed), and each field under its
 * journal name (journalFieldName); a value holding a newline in the protocol's binary form.
 */
export function journalEntry(json: string): Buffer {
  const fields = JSON.parse(json) as Record<string, unknown>;
  const { priority, text } = readableEvent(json);
  const parts: Buffer[] = [field('PRIORITY', String(priority)), field('SYSLOG_IDENTIFIER', 'gpu-hookd'), field('MESSAGE', text)];
  for (const [key, value] of Object.entries(fields)) {
    const name = journalFieldName(key);
    // level and msg are PRIORITY and MESSAGE already.
    if (name && !['LEVEL', 'MSG', 'PRIORITY', 'MESSAGE', 'SYSLOG_IDENTIFIER'].includes(name)) parts.push(field(name, journalValue(value)));
  }
  return Buffer.concat(parts);
}

/** A pino key as a journal field name: upper case, words split at capitals ("durationMs" ->
 *  "DURATION_MS"), nothing but A-Z, 0-9 and "_", never leading "_" or a digit (those are journald's
 *  own); undefined when nothing is left. */
export function journalFieldName(key: string): string | undefined {
  const name = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_')
    .replace(/^[^A-Z]+/, '')
    .slice(0, 64);
  return name === '' ? undefined : name;
}

function journalValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string') return (value as { message: string }).message;
  return JSON.stringify(value) ?? String(value);
}

// "NAME=value\n", or for a value with a newline "NAME\n" + its length (64-bit little endian) + value + "\n".
function field(name: string, value: string): Buffer {
  if (!value.includes('\n')) return Buffer.from(`${name}=${value}\n`);
  const data = Buffer.from(value);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(data.length));
  return Buffer.concat([Buffer.from(`${name}\n`), length, data, Buffer.from('\n')]);
}

function fieldValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=\\]+$/.test(value) ? value : JSON.stringify(value);
  // An error keeps its sentence; the stack would spread over several journal entries.
  if (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string') {
    return JSON.stringify((value as { message: string }).message);
  }
  return oneLine(JSON.stringify(value) ?? String(value));
}

// journald splits a stream at newlines, and a continuation line would lose its priority.
function oneLine(text: string): string {
  return text.replace(/\r?\n/g, '\\n');
}

/**
 * Changes the level at runtime (LogControl1.LogLevel, a D-Bus property). Accepts pino's names and
 * syslog's; returns the pino level now in force. Call it on the logger createLogger returned: its
 * children (and theirs) follow it.
 */
export function setLogLevel(logger: Logger, level: string): LogLevel {
  const name = Object.hasOwn(TO_SYSLOG, level) ? (level as LogLevel) : Object.hasOwn(FROM_SYSLOG, level) ? FROM_SYSLOG[level] : undefined;
  if (!name) throw new LogLevelError(level);
  logger.level = name;
  for (const ref of descendants.get(logger) ?? []) {
    const child = ref.deref();
    if (child) child.level = name;
  }
  return name;
}

/** The logger's level as a syslog name, for LogControl1.LogLevel. */
export function syslogLevelName(logger: Logger): string {
  return TO_SYSLOG[logger.level as LogLevel] ?? 'info';
}

export type StepOutcome = 'done' | 'undone' | 'failed';

export interface StepEvent {
  /** PCI address (or other device name) the step acted on. */
  device: string;
  /** The step's name ("unbind", "bind-vfio", ...). */
  step: string;
  /** How long it took, in milliseconds. */
  ms: number;
  outcome: StepOutcome;
  /** Why it failed: the error's one sentence. */
  error?: string;
  /** Anything else worth keeping with the event (driver, vm, ...). */
  [field: string]: unknown;
}

/** One event per engine step: "unbind 0000:01:00.0: done" with step, device, ms and outcome fields. */
export function logStep(logger: Logger, event: StepEvent): void {
  const { device, step, ms, outcome, error, ...extra } = event;
  const fields = { step, device, ms: Math.round(ms * 10) / 10, outcome, ...extra, ...(error ? { error } : {}) };
  const message = `${step} ${device}: ${outcome}`;
  if (outcome === 'failed') logger.error(fields, message);
  else logger.info(fields, message);
}

/** Runs one step, logging it as done or failed with its duration; the step's error is rethrown. */
export async function timedStep<T>(logger: Logger, device: string, step: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const result = await work();
    logStep(logger, { device, step, ms: performance.now() - started, outcome: 'done' });
    return result;
  } catch (e) {
    logStep(logger, { device, step, ms: performance.now() - started, outcome: 'failed', error: (e as Error)?.message ?? String(e) });
    throw e;
  }
}
