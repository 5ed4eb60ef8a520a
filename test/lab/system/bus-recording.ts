// gpu-hookd's conversation with the real systemd and logind, taken from the system lab guest's
// `busctl monitor --json=short` of org.freedesktop.systemd1 and org.freedesktop.login1: each call it
// made, what came back, and the JobRemoved signal of each job it started. Normalised so that two
// recordings of the same calls compare equal: job numbers are counted from 1 in order of appearance, and
// GetAll answers keep only the properties gpu-hookd reads (src/host/systemd-manager.ts,
// src/host/logind-sessions.ts). The fixture in test/lab/system/fixtures/ is one such recording; the
// stand-ins in src/sim/desktop are held to it (test/e2e/infra/standins-recorded.test.ts).
//
//   node dist/test/lab/system/bus-recording.js BUS-MONITOR.jsonl UNIQUE-NAME > fixture.json

import * as fs from 'node:fs';

export interface RecordedCall {
  destination: string;
  path: string;
  interface: string;
  member: string;
  signature: string;
  args: unknown[];
}

export interface RecordedAnswer {
  kind: 'return' | 'error';
  signature?: string;
  body?: unknown[];
  errorName?: string;
}

export interface RecordedExchange {
  call: RecordedCall;
  answer: RecordedAnswer;
  /** For StartUnit/StopUnit: JobRemoved's (id, job, unit, result) for the job the call returned. */
  jobRemoved?: unknown[];
}

export interface BusRecording {
  /** Where it was recorded: "Debian bookworm, systemd 252". */
  recordedOn: string;
  exchanges: RecordedExchange[];
}

/** The properties gpu-hookd reads, by interface; the rest of a GetAll answer is not part of the contract. */
export const PROPERTIES_READ: Record<string, string[]> = {
  'org.freedesktop.systemd1.Unit': ['Id', 'LoadState', 'ActiveState', 'SubState'],
  'org.freedesktop.systemd1.Slice': ['AllowedCPUs'],
  'org.freedesktop.systemd1.Scope': ['AllowedCPUs'],
  'org.freedesktop.systemd1.Service': ['AllowedCPUs'],
  'org.freedesktop.login1.Session': ['Type', 'Class', 'State'],
};

interface MonitorMessage {
  type: string;
  cookie: number;
  reply_cookie?: number;
  sender?: string;
  destination?: string;
  path?: string;
  interface?: string;
  member?: string;
  error_name?: string;
  payload?: { type: string; data: unknown[] };
}

const JOB_PATH = /^\/org\/freedesktop\/systemd1\/job\/(\d+)$/;

export function busExchanges(monitorJsonl: string, uniqueName: string): RecordedExchange[] {
  const messages = monitorJsonl
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as MonitorMessage);
  const exchanges: RecordedExchange[] = [];
  const pending = new Map<number, RecordedExchange>();
  const byJob = new Map<string, RecordedExchange>();
  for (const m of messages) {
    if (m.type === 'method_call' && m.sender === uniqueName) {
      const ex: RecordedExchange = {
        call: { destination: m.destination ?? '', path: m.path ?? '', interface: m.interface ?? '', member: m.member ?? '', signature: m.payload?.type ?? '', args: m.payload?.data ?? [] },
        answer: { kind: 'return' },
      };
      exchanges.push(ex);
      pending.set(m.cookie, ex);
    } else if ((m.type === 'method_return' || m.type === 'error') && m.destination === uniqueName && m.reply_cookie !== undefined && pending.has(m.reply_cookie)) {
      const ex = pending.get(m.reply_cookie) as RecordedExchange;
      pending.delete(m.reply_cookie);
      ex.answer = m.type === 'error' ? { kind: 'error', errorName: m.error_name ?? '' } : { kind: 'return', signature: m.payload?.type ?? '', body: m.payload?.data ?? [] };
      if (/^(Start|Stop)Unit$/.test(ex.call.member) && ex.answer.body) byJob.set(String(ex.answer.body[0]), ex);
    } else if (m.type === 'signal' && m.member === 'JobRemoved') {
      const args = m.payload?.data ?? [];
      const ex = byJob.get(String(args[1]));
      if (ex) ex.jobRemoved = args;
    }
  }
  return normalise(exchanges.filter((ex) => ex.call.destination === 'org.freedesktop.systemd1' || ex.call.destination === 'org.freedesktop.login1'));
}

/** Job numbers counted from 1; GetAll answers cut to PROPERTIES_READ. Works on recordings and on replays alike. */
export function normalise(exchanges: RecordedExchange[]): RecordedExchange[] {
  const jobs = new Map<string, number>();
  const job = (id: string): number => {
    if (!jobs.has(id)) jobs.set(id, jobs.size + 1);
    return jobs.get(id) as number;
  };
  const jobPath = (v: unknown): unknown => {
    const m = typeof v === 'string' ? JOB_PATH.exec(v) : null;
    return m ? `/org/freedesktop/systemd1/job/${job(m[1])}` : v;
  };
  return exchanges.map((ex) => {
    const out: RecordedExchange = { call: ex.call, answer: { ...ex.answer } };
    if (ex.answer.body && ex.call.member === 'GetAll') {
      const wanted = PROPERTIES_READ[String(ex.call.args[0])] ?? [];
      const all = ex.answer.body[0] as Record<string, unknown>;
      out.answer.body = [Object.fromEntries(wanted.filter((k) => k in all).map((k) => [k, all[k]]))];
    } else if (ex.answer.body) {
      out.answer.body = ex.answer.body.map(jobPath);
    }
    if (ex.jobRemoved) {
      const [id, path, unit, result] = ex.jobRemoved;
      out.jobRemoved = [job(String(id)), jobPath(path), unit, result];
    }
    return out;
  });
}

if (require.main === module) {
  const [file, name, recordedOn] = process.argv.slice(2);
  if (!file || !name) {
    console.error('usage: bus-recording.js BUS-MONITOR.jsonl UNIQUE-NAME [RECORDED-ON]');
    process.exit(2);
  }
  const recording: BusRecording = { recordedOn: recordedOn ?? '', exchanges: busExchanges(fs.readFileSync(file, 'utf8'), name) };
  process.stdout.write(`${JSON.stringify(recording, null, 1)}\n`);
}
