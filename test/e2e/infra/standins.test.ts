// The systemd and logind stand-ins answer as the real services do, over real D-Bus messages from a
// separate process, and do what the test scripts.

import assert from 'node:assert/strict';
import * as dbus from 'dbus-next';
import { startLogindStandin, sessionPath, LOGIND_BUS_NAME, LOGIND_PATH, type LogindStandin } from '../../../src/sim/desktop/logind-standin';
import { startPrivateSystemBus, type PrivateBus } from '../../support/private-bus';
import { isRunning } from '../../support/processes';
import { busLabelEscape } from '../../../src/sim/desktop/standin-channel';
import { startSystemdStandin, unitPath, SYSTEMD_BUS_NAME, SYSTEMD_PATH, type SystemdStandin } from '../../../src/sim/desktop/systemd-standin';

type Signal = unknown[];

/** Collects a proxy interface's signals so a test can wait for one without sleeping. */
class SignalLog {
  private readonly seen: Signal[] = [];
  private readonly waiters: { match: (s: Signal) => boolean; resolve: (s: Signal) => void }[] = [];

  constructor(iface: dbus.ClientInterface, signal: string) {
    iface.on(signal, (...args: unknown[]) => {
      this.seen.push(args);
      for (const w of this.waiters.filter((x) => x.match(args))) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(args);
      }
    });
  }

  all(): Signal[] {
    return this.seen;
  }

  next(match: (s: Signal) => boolean): Promise<Signal> {
    const seen = this.seen.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}

async function dbusError(work: Promise<unknown>): Promise<dbus.DBusError> {
  try {
    await work;
  } catch (e) {
    return e as dbus.DBusError;
  }
  assert.fail('the call succeeded but should have failed');
}

describe('systemd and logind stand-ins on the private bus', function () {
  this.timeout(30_000);
  let bus: PrivateBus;
  let systemd: SystemdStandin;
  let logind: LogindStandin;
  let client: dbus.MessageBus;

  before(async () => {
    bus = await startPrivateSystemBus();
    systemd = await startSystemdStandin(bus, {
      units: [
        { name: 'gdm.service', aliases: ['display-manager.service'], activeState: 'active', jobs: { stop: { latencyMs: 20 } } },
        { name: 'stuck.service', activeState: 'active', jobs: { stop: { result: 'never' } } },
        { name: 'broken.service', jobs: { start: { result: 'failed' } } },
      ],
    });
    logind = await startLogindStandin(bus, {
      sessions: [
        { id: '2', uid: 1000, user: 'alice', type: 'wayland', class: 'user' },
        { id: 'c1', uid: 120, user: 'gdm', class: 'greeter', type: 'x11' },
        { id: '5', uid: 1000, user: 'alice', seat: '', type: 'tty', terminate: { never: true } },
      ],
    });
    client = bus.connect();
  });

  after(async () => {
    client?.disconnect();
    await systemd?.stop();
    await logind?.stop();
    await bus?.stop();
    for (const pid of [systemd.pid, logind.pid, bus.pid]) assert.equal(isRunning(pid), false, `pid ${pid} still running`);
  });

  describe('systemd', () => {
    let manager: dbus.ClientInterface;
    let jobsRemoved: SignalLog;

    before(async () => {
      manager = (await client.getProxyObject(SYSTEMD_BUS_NAME, SYSTEMD_PATH)).getInterface('org.freedesktop.systemd1.Manager');
      jobsRemoved = new SignalLog(manager, 'JobRemoved');
      await manager.Subscribe();
    });

    async function unitProperty(name: string, iface: string, property: string): Promise<unknown> {
      const props = (await client.getProxyObject(SYSTEMD_BUS_NAME, unitPath(name))).getInterface('org.freedesktop.DBus.Properties');
      return ((await props.Get(iface, property)) as dbus.Variant).value;
    }

    it('escapes unit names into object paths as systemd does', () => {
      assert.equal(unitPath('display-manager.service'), '/org/freedesktop/systemd1/unit/display_2dmanager_2eservice');
      assert.equal(busLabelEscape('2'), '_32');
      assert.equal(busLabelEscape('c12'), 'c12');
      assert.equal(busLabelEscape(''), '_');
    });

    it('StopUnit answers with a job path, then JobRemoved(id, job, unit Id, "done") and the unit is inactive', async () => {
      const job = (await manager.StopUnit('display-manager.service', 'replace')) as string;
      assert.match(job, /^\/org\/freedesktop\/systemd1\/job\/\d+$/);
      const [id, path, unit, result] = await jobsRemoved.next((s) => s[1] === job);
      assert.equal(path, job);
      assert.equal(id, Number(job.split('/').pop()));
      assert.equal(unit, 'gdm.service');
      assert.equal(result, 'done');
      assert.equal(await unitProperty('gdm.service', 'org.freedesktop.systemd1.Unit', 'ActiveState'), 'inactive');
    });

    it('StartUnit brings the unit back to active/running and records the call with its arguments', async () => {
      const job = (await manager.StartUnit('display-manager.service', 'replace')) as string;
      assert.equal((await jobsRemoved.next((s) => s[1] === job))[3], 'done');
      assert.equal(await unitProperty('gdm.service', 'org.freedesktop.systemd1.Unit', 'SubState'), 'running');
      const [call] = await systemd.calls('StartUnit');
      assert.deepEqual(call.args, ['display-manager.service', 'replace']);
      assert.equal(call.interface, 'org.freedesktop.systemd1.Manager');
      assert.equal(call.path, SYSTEMD_PATH);
    });

    it('calls() is complete for every call whose reply the test has seen', async () => {
      for (const unit of ['init.scope', 'user.slice', 'system.slice']) {
        await manager.GetUnit(unit);
        assert.deepEqual((await systemd.calls('GetUnit')).at(-1)?.args, [unit]);
      }
    });

    it('GetUnit resolves an alias to the unit\'s own object; an unknown unit is NoSuchUnit', async () => {
      assert.equal(await manager.GetUnit('display-manager.service'), unitPath('gdm.service'));
      const err = await dbusError(manager.GetUnit('nope.service'));
      assert.equal(err.type, 'org.freedesktop.systemd1.NoSuchUnit');
      assert.equal(err.text, 'Unit nope.service not loaded.');
    });

    it('a unit scripted never to stop keeps its job running until the test completes it', async () => {
      const job = (await manager.StopUnit('stuck.service', 'replace')) as string;
      const pending = await systemd.unit('stuck.service');
      assert.equal(pending.activeState, 'deactivating');
      assert.equal(pending.job?.type, 'stop');
      assert.equal(jobsRemoved.all().some((s) => s[1] === job), false);
      assert.equal(await systemd.completeJobs('stuck.service', 'timeout'), 1);
      assert.deepEqual((await jobsRemoved.next((s) => s[1] === job)).slice(2), ['stuck.service', 'timeout']);
      assert.equal((await systemd.unit('stuck.service')).activeState, 'failed');
    });

    it('a unit scripted to fail ends its start job with result "failed"', async () => {
      const job = (await manager.StartUnit('broken.service', 'replace')) as string;
      assert.equal((await jobsRemoved.next((s) => s[1] === job))[3], 'failed');
      assert.equal(await unitProperty('broken.service', 'org.freedesktop.systemd1.Unit', 'ActiveState'), 'failed');
    });

    it('SetUnitProperties(sba(sv)) sets AllowedCPUs as the ay mask and the Slice property shows it', async () => {
      await manager.SetUnitProperties('system.slice', true, [['AllowedCPUs', new dbus.Variant('ay', Buffer.from([0x03]))]]);
      const value = (await unitProperty('system.slice', 'org.freedesktop.systemd1.Slice', 'AllowedCPUs')) as Buffer;
      assert.deepEqual([...value], [0x03]);
      const call = await systemd.waitForCall('SetUnitProperties', (c) => c.args[0] === 'system.slice');
      assert.deepEqual(call.args, ['system.slice', true, [['AllowedCPUs', { signature: 'ay', value: [3] }]]]);
      await manager.SetUnitProperties('system.slice', true, [['AllowedCPUs', new dbus.Variant('ay', Buffer.alloc(0))]]);
      assert.deepEqual((await systemd.unit('system.slice')).allowedCpus, []);
    });

    it('AllowedCPUs of the wrong type is refused with InvalidArgs', async () => {
      const err = await dbusError(manager.SetUnitProperties('init.scope', true, [['AllowedCPUs', new dbus.Variant('s', '0-1')]]));
      assert.equal(err.type, 'org.freedesktop.DBus.Error.InvalidArgs');
    });

    it('failNext makes exactly the next matching call fail with the scripted error', async () => {
      await systemd.failNext({ member: 'SetUnitProperties', errorName: 'org.freedesktop.DBus.Error.AccessDenied', message: 'scripted denial' });
      const props: [string, dbus.Variant][] = [['AllowedCPUs', new dbus.Variant('ay', Buffer.from([0x01]))]];
      const err = await dbusError(manager.SetUnitProperties('user.slice', true, props));
      assert.equal(err.type, 'org.freedesktop.DBus.Error.AccessDenied');
      assert.equal(err.text, 'scripted denial');
      assert.deepEqual((await systemd.unit('user.slice')).allowedCpus, []);
      await manager.SetUnitProperties('user.slice', true, props);
      assert.deepEqual((await systemd.unit('user.slice')).allowedCpus, [1]);
    });

    it('ListUnits returns a(ssssssouso) rows with each unit\'s state and object', async () => {
      const rows = (await manager.ListUnits()) as unknown[][];
      const gdm = rows.find((r) => r[0] === 'gdm.service');
      assert.deepEqual(gdm?.slice(2, 7), ['loaded', 'active', 'running', '', unitPath('gdm.service')]);
      assert.deepEqual(rows.map((r) => r[0]).slice(0, 3), ['system.slice', 'user.slice', 'init.scope']);
    });
  });

  describe('logind', () => {
    let manager: dbus.ClientInterface;
    let removed: SignalLog;

    before(async () => {
      manager = (await client.getProxyObject(LOGIND_BUS_NAME, LOGIND_PATH)).getInterface('org.freedesktop.login1.Manager');
      removed = new SignalLog(manager, 'SessionRemoved');
    });

    async function sessionProperties(id: string): Promise<Record<string, unknown>> {
      const props = (await client.getProxyObject(LOGIND_BUS_NAME, sessionPath(id))).getInterface('org.freedesktop.DBus.Properties');
      const all = (await props.GetAll('org.freedesktop.login1.Session')) as Record<string, dbus.Variant>;
      return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v.value]));
    }

    it('ListSessions returns a(susso) rows with logind\'s object paths', async () => {
      const rows = (await manager.ListSessions()) as unknown[][];
      assert.deepEqual(rows[0], ['2', 1000, 'alice', 'seat0', '/org/freedesktop/login1/session/_32']);
      assert.deepEqual(rows.map((r) => r[0]), ['2', 'c1', '5']);
    });

    it('session objects carry Seat, Type, Class and State', async () => {
      const greeter = await sessionProperties('c1');
      assert.deepEqual(greeter.Seat, ['seat0', '/org/freedesktop/login1/seat/seat0']);
      assert.equal(greeter.Type, 'x11');
      assert.equal(greeter.Class, 'greeter');
      assert.equal(greeter.State, 'active');
      assert.deepEqual((await sessionProperties('5')).Seat, ['', '/']);
    });

    it('TerminateSession closes the session: SessionRemoved follows and the session is gone', async () => {
      await manager.TerminateSession('2');
      assert.deepEqual(await removed.next((s) => s[0] === '2'), ['2', sessionPath('2')]);
      assert.deepEqual((await logind.sessions()).map((s) => s.id), ['c1', '5']);
      assert.deepEqual((await logind.waitForCall('TerminateSession')).args, ['2']);
    });

    it('a session scripted never to end stays "closing"', async () => {
      await manager.TerminateSession('5');
      assert.equal((await logind.sessions()).find((s) => s.id === '5')?.state, 'closing');
      assert.equal(removed.all().some((s) => s[0] === '5'), false);
    });

    it('an unknown session is NoSuchSession', async () => {
      const err = await dbusError(manager.TerminateSession('99'));
      assert.equal(err.type, 'org.freedesktop.login1.NoSuchSession');
    });
  });
});
