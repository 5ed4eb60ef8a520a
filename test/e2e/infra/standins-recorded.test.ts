// The systemd and logind stand-ins held to the real thing: the system lab recorded every call gpu-hookd
// made to the real systemd and logind in a Debian guest, what they answered and the JobRemoved of each
// job (test/lab/system/fixtures/bus-*.json, made by test/lab/system/bus-recording.ts). Here the same
// calls, in the same order, go to the stand-ins on a private bus, set up with the units and sessions
// the recording shows at its start; their answers, normalised the same way, must be the recorded ones.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as dbus from 'dbus-next';
import { startLogindStandin } from '../../../src/sim/desktop/logind-standin';
import { startSystemdStandin, SYSTEMD_BUS_NAME, SYSTEMD_MANAGER_INTERFACE, SYSTEMD_PATH, type ActiveState, type UnitSpec } from '../../../src/sim/desktop/systemd-standin';
import { normalise, type BusRecording, type RecordedExchange } from '../../lab/system/bus-recording';
import { startPrivateSystemBus, type PrivateBus } from '../../support/private-bus';

const FIXTURES = path.resolve(__dirname, '../../../../test/lab/system/fixtures');
const JOB_REMOVED_WAIT_MS = 5_000;

/** The units the recording's calls name, in the state its first answer about each shows. */
function unitsOf(exchanges: RecordedExchange[]): UnitSpec[] {
  const units = new Map<string, UnitSpec>();
  let loadedAs: string | undefined;
  for (const ex of exchanges) {
    if (ex.call.member === 'LoadUnit') loadedAs = String(ex.call.args[0]);
    if (ex.call.member !== 'GetAll' || ex.call.args[0] !== 'org.freedesktop.systemd1.Unit' || !ex.answer.body) continue;
    const props = ex.answer.body[0] as Record<string, { data: string }>;
    const id = props.Id.data;
    if (units.has(id)) continue;
    units.set(id, { name: id, aliases: loadedAs && loadedAs !== id ? [loadedAs] : [], activeState: props.ActiveState.data as ActiveState });
  }
  return [...units.values()];
}

/** A dbus-next value as busctl's JSON writes it: variants as {type, data}, byte arrays as numbers. */
function asMonitorJson(value: unknown): unknown {
  if (value instanceof dbus.Variant) return { type: value.signature, data: asMonitorJson(value.value) };
  if (Buffer.isBuffer(value)) return [...value];
  if (Array.isArray(value)) return value.map(asMonitorJson);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asMonitorJson(v)]));
  return value;
}

async function replay(client: dbus.MessageBus, exchanges: RecordedExchange[]): Promise<RecordedExchange[]> {
  const removed: unknown[][] = [];
  client.on('message', (m: dbus.Message) => {
    if (m.type === dbus.MessageType.SIGNAL && m.interface === SYSTEMD_MANAGER_INTERFACE && m.member === 'JobRemoved') removed.push(m.body as unknown[]);
  });
  await client.call(
    new dbus.Message({
      destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's',
      body: [`type='signal',sender='${SYSTEMD_BUS_NAME}',path='${SYSTEMD_PATH}',interface='${SYSTEMD_MANAGER_INTERFACE}',member='JobRemoved'`],
    }),
  );
  const out: RecordedExchange[] = [];
  for (const { call } of exchanges) {
    const message = new dbus.Message({ destination: call.destination, path: call.path, interface: call.interface, member: call.member, signature: call.signature, body: call.args });
    const ex: RecordedExchange = { call, answer: { kind: 'return' } };
    try {
      const reply = await client.call(message);
      ex.answer = { kind: 'return', signature: reply?.signature ?? '', body: asMonitorJson(reply?.body ?? []) as unknown[] };
    } catch (e) {
      if (!(e instanceof dbus.DBusError)) throw e;
      ex.answer = { kind: 'error', errorName: e.type };
    }
    if (/^(Start|Stop)Unit$/.test(call.member) && ex.answer.body) {
      const job = ex.answer.body[0];
      const deadline = Date.now() + JOB_REMOVED_WAIT_MS;
      while (!removed.some((s) => s[1] === job) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const signal = removed.find((s) => s[1] === job);
      if (signal) ex.jobRemoved = signal;
    }
    out.push(ex);
  }
  return normalise(out);
}

for (const file of fs.readdirSync(FIXTURES).filter((f) => /^bus-.*\.json$/.test(f))) {
  const recording = JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8')) as BusRecording;

  describe(`the stand-ins answer gpu-hookd's calls as the real systemd and logind did (${file}: ${recording.recordedOn})`, function () {
    this.timeout(60_000);
    // stopped in reverse order of start: the stand-ins before their bus
    const started: { stop(): Promise<void> }[] = [];
    let client: dbus.MessageBus;

    before(async () => {
      const bus: PrivateBus = await startPrivateSystemBus();
      started.push(bus);
      started.push(await startSystemdStandin(bus, { units: unitsOf(recording.exchanges) }));
      // the recording's one ListSessions found no session (lightdm's had ended with its stop job)
      started.push(await startLogindStandin(bus, {}));
      client = bus.connect();
    });

    after(async () => {
      client?.disconnect();
      for (const s of started.reverse()) await s.stop();
    });

    it('the recording holds calls to both services and jobs that ended', () => {
      const members = new Set(recording.exchanges.map((ex) => ex.call.member));
      for (const m of ['LoadUnit', 'GetAll', 'Subscribe', 'StopUnit', 'StartUnit', 'ListSessions']) assert.ok(members.has(m), `the recording has no ${m}`);
      assert.ok(recording.exchanges.some((ex) => ex.jobRemoved));
    });

    it('every call, replayed in order, gets the recorded answer (and the same JobRemoved for each job)', async () => {
      const replayed = await replay(client, recording.exchanges);
      for (let i = 0; i < replayed.length; i++) {
        assert.deepEqual(replayed[i], recording.exchanges[i], `call ${i + 1} (${recording.exchanges[i].call.member} ${JSON.stringify(recording.exchanges[i].call.args)}) was answered differently`);
      }
    });
  });
}
