// gpu-hookd's systemd and logind clients against the stand-ins on a real private bus: the real
// names, paths and signatures, jobs waited for until JobRemoved (never a sleep), timeouts, failed
// jobs and refused calls as sentences, AllowedCPUs written and read as systemd's byte mask.

import assert from 'node:assert/strict';
import type * as dbus from 'dbus-next';
import { BusCallError } from '../../../src/host/dbus-client';
import { describeSessions, LogindSessions, SessionTimeoutError } from '../../../src/host/logind-sessions';
import { SystemdManager, UnitJobError, UnitJobTimeoutError } from '../../../src/host/systemd-manager';
import { startLogindStandin, type LogindStandin } from '../../../src/sim/desktop/logind-standin';
import { startPrivateSystemBus, type PrivateBus } from '../../support/private-bus';
import { waitFor } from '../../support/processes';
import { startSystemdStandin, type SystemdStandin } from '../../../src/sim/desktop/systemd-standin';

describe('systemd manager client', function () {
  this.timeout(30_000);
  let bus: PrivateBus;
  let standin: SystemdStandin;
  let conn: dbus.MessageBus;
  let systemd: SystemdManager;

  before(async () => {
    bus = await startPrivateSystemBus();
    standin = await startSystemdStandin(bus, {
      units: [
        { name: 'gdm.service', aliases: ['display-manager.service'], activeState: 'active', jobs: { stop: { latencyMs: 150 }, start: { latencyMs: 150 } } },
        { name: 'stuck.service', activeState: 'active', jobs: { stop: { result: 'never' } } },
        { name: 'broken.service', jobs: { start: { result: 'failed' } } },
        { name: 'machine.slice', activeState: 'active', allowedCpus: [0x03] },
      ],
    });
    conn = bus.connect();
    systemd = new SystemdManager(conn);
  });
  after(async () => {
    await systemd?.close();
    conn?.disconnect();
    await standin?.stop();
    await bus?.stop();
  });

  it('stops a unit by an alias and resolves only once its job has ended (JobRemoved)', async () => {
    await systemd.stopUnit('display-manager.service', { timeoutMs: 5_000 });
    // Read straight after: had the client not waited for JobRemoved, the unit would still be deactivating.
    assert.equal((await standin.unit('gdm.service')).activeState, 'inactive');
    assert.deepEqual(await systemd.unitStatus('display-manager.service'), { id: 'gdm.service', loadState: 'loaded', activeState: 'inactive', subState: 'dead' });
    await systemd.startUnit('display-manager.service', { timeoutMs: 5_000 });
    assert.equal((await systemd.unitStatus('gdm.service')).activeState, 'active');
    const calls = await standin.calls();
    assert.deepEqual(
      calls.filter((c) => ['StopUnit', 'StartUnit', 'Subscribe'].includes(c.member)).map((c) => [c.member, c.args]),
      [
        ['Subscribe', []],
        ['StopUnit', ['display-manager.service', 'replace']],
        ['StartUnit', ['display-manager.service', 'replace']],
      ],
      'one Subscribe for the client, then the jobs',
    );
  });

  it('gives up on a job that does not end in time, naming the unit and the time', async () => {
    await assert.rejects(systemd.stopUnit('stuck.service', { timeoutMs: 200 }), (e: unknown) => {
      assert.ok(e instanceof UnitJobTimeoutError);
      assert.equal(e.message, "stuck.service did not stop within 200 ms (systemd's stop job is still running)");
      return true;
    });
    assert.equal((await standin.unit('stuck.service')).job?.type, 'stop');
    assert.equal(await standin.completeJobs('stuck.service', 'done'), 1);
  });

  it('reports a job that ended with another result than done', async () => {
    await assert.rejects(systemd.startUnit('broken.service', { timeoutMs: 5_000 }), (e: unknown) => {
      assert.ok(e instanceof UnitJobError);
      assert.equal(e.result, 'failed');
      assert.equal(e.message, `systemd's start job for broken.service ended with result "failed"`);
      return true;
    });
  });

  it('reads a unit with no unit file as not-found, and turns systemd\'s refusals into named errors', async () => {
    assert.equal((await systemd.unitStatus('no-such.service')).loadState, 'not-found');
    await assert.rejects(systemd.stopUnit('nothing-here.service', { timeoutMs: 1_000 }), (e: unknown) => {
      assert.ok(e instanceof BusCallError);
      assert.equal(e.errorName, 'org.freedesktop.systemd1.NoSuchUnit');
      assert.equal(e.message, 'org.freedesktop.systemd1.Manager.StopUnit failed: Unit nothing-here.service not loaded. (org.freedesktop.systemd1.NoSuchUnit)');
      return true;
    });
  });

  it('sets AllowedCPUs as systemd\'s byte mask (ay), at runtime, and reads it back', async () => {
    assert.deepEqual(await systemd.allowedCpus('machine.slice'), [0x03]);
    await systemd.setAllowedCpus('system.slice', [0x0f, 0x01]);
    assert.deepEqual(await systemd.allowedCpus('system.slice'), [0x0f, 0x01]);
    assert.deepEqual((await standin.unit('system.slice')).allowedCpus, [0x0f, 0x01]);
    const [call] = (await standin.calls('SetUnitProperties')).slice(-1);
    assert.deepEqual(call.args, ['system.slice', true, [['AllowedCPUs', { signature: 'ay', value: [0x0f, 0x01] }]]]);
    await systemd.setAllowedCpus('system.slice', []);
    assert.deepEqual(await systemd.allowedCpus('system.slice'), [], 'empty: every CPU');
    assert.deepEqual(await systemd.allowedCpus('gdm.service'), [], 'services carry AllowedCPUs too');
    await assert.rejects(systemd.allowedCpus('graphical.target'), /graphical\.target is not a slice, scope or service, so it has no AllowedCPUs/);
  });

  it('passes a refused SetUnitProperties on as a named error', async () => {
    await standin.failNext({ member: 'SetUnitProperties', errorName: 'org.freedesktop.DBus.Error.AccessDenied', message: 'Access denied' });
    await assert.rejects(systemd.setAllowedCpus('user.slice', [0x01]), (e: unknown) => e instanceof BusCallError && e.errorName === 'org.freedesktop.DBus.Error.AccessDenied');
    assert.deepEqual((await standin.unit('user.slice')).allowedCpus, []);
  });

  it('says that systemd is missing when nobody owns its name on the bus', async () => {
    const bare = await startPrivateSystemBus();
    const c = bare.connect();
    try {
      await assert.rejects(new SystemdManager(c).unitStatus('display-manager.service'), (e: unknown) => e instanceof BusCallError && e.serviceMissing);
    } finally {
      c.disconnect();
      await bare.stop();
    }
  });
});

describe('logind sessions client', function () {
  this.timeout(30_000);
  let bus: PrivateBus;
  let standin: LogindStandin;
  let conn: dbus.MessageBus;
  let logind: LogindSessions;

  before(async () => {
    bus = await startPrivateSystemBus();
    standin = await startLogindStandin(bus, {
      sessions: [
        { id: '2', uid: 1000, user: 'alice', type: 'wayland', terminate: { latencyMs: 150 } },
        { id: 'c1', uid: 120, user: 'gdm', type: 'x11', class: 'greeter' },
        { id: '3', uid: 1000, user: 'alice', type: 'tty' },
        { id: '5', uid: 1001, user: 'bob', type: 'x11', seat: 'seat1', terminate: { never: true } },
      ],
    });
    conn = bus.connect();
    logind = new LogindSessions(conn);
  });
  after(async () => {
    await logind?.close();
    conn?.disconnect();
    await standin?.stop();
    await bus?.stop();
  });

  it('lists the sessions with their seat, type and class, and picks the graphical ones of a seat', async () => {
    assert.deepEqual((await logind.list()).map((s) => [s.id, s.user, s.seat, s.type, s.class]), [
      ['2', 'alice', 'seat0', 'wayland', 'user'],
      ['c1', 'gdm', 'seat0', 'x11', 'greeter'],
      ['3', 'alice', 'seat0', 'tty', 'user'],
      ['5', 'bob', 'seat1', 'x11', 'user'],
    ]);
    assert.deepEqual((await logind.graphicalOnSeat('seat0')).map((s) => s.id), ['2', 'c1']);
  });

  it('ends a session and resolves only once logind has removed it (SessionRemoved)', async () => {
    const [alice] = await logind.graphicalOnSeat('seat0');
    await logind.terminate(alice, 5_000);
    assert.deepEqual((await standin.sessions()).map((s) => s.id), ['c1', '3', '5']);
  });

  it('gives up on a session that does not end in time', async () => {
    const [bob] = await logind.graphicalOnSeat('seat1');
    await assert.rejects(logind.terminate(bob, 200), (e: unknown) => {
      assert.ok(e instanceof SessionTimeoutError);
      assert.equal(e.message, 'session 5 of bob (x11) did not end within 200 ms of TerminateSession');
      return true;
    });
  });

  it('waits while the sessions of a seat end by themselves: what is left at the bound, closing ones marked', async () => {
    const left = await logind.waitWhileEnding('seat1', 200, () => false);
    assert.deepEqual(left.map((s) => [s.id, s.state]), [['5', 'closing']]);
    assert.equal(describeSessions(left), '5 (bob, x11, closing)');
    // Settled at once: nothing to wait for.
    assert.deepEqual((await logind.waitWhileEnding('seat0', 60_000, () => true)).map((s) => s.id), ['c1']);
  });

  it('wakes on SessionRemoved: a bound longer than the test\'s own timeout is never reached', async () => {
    const listed = (await standin.calls('ListSessions')).length;
    const waiting = logind.waitWhileEnding('seat1', 60_000, () => false);
    await waitFor('the first listing of the wait', async () => (await standin.calls('ListSessions')).length > listed);
    await standin.removeSession('5');
    assert.deepEqual(await waiting, []);
  });
});
