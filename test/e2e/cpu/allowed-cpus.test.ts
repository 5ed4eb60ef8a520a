// CPU isolation through systemd's D-Bus API: the systemd stand-in (a separate process owning
// org.freedesktop.systemd1 on a private system-like bus) receives real SetUnitProperties calls and
// records them; the GPU host stays simulated. NEVER this machine's systemd: the stand-in is the only
// systemd these tests reach.

import assert from 'node:assert/strict';
import type * as dbus from 'dbus-next';
import { CpuError } from '../../../src/cpu/cpu-error';
import { systemdAllowedCpus } from '../../../src/cpu/systemd-allowed-cpus';
import { SystemdManager } from '../../../src/host/systemd-manager';
import { injectFault } from '../../../src/sim/faults';
import { startPrivateSystemBus, type PrivateBus } from '../../support/private-bus';
import { startSystemdStandin, type SystemdStandin } from '../../../src/sim/desktop/systemd-standin';
import { cpuHost, cpuKnobs, cpuRecords, domain, NO_CPU_WORK, type CpuHost } from '../../integration/cpu/cpu-host';

const ISOLATE = { ...NO_CPU_WORK, isolateCpus: true, pin: 'auto' as const };
// The seed with a 4-vCPU guest: VM on CPUs 1-2,9-10, host keeps 0,3-8,11-15 = bytes 0xf9, 0xf9.
const HOUSEKEEPING_MASK = [0xf9, 0xf9];
const win10 = domain({ name: 'win10', vcpus: 4 });

describe('AllowedCPUs through the systemd stand-in on a private bus', function () {
  this.timeout(30_000);
  let bus: PrivateBus;
  let systemd: SystemdStandin;
  let client: dbus.MessageBus;
  let manager: SystemdManager;
  let h: CpuHost;

  before(async () => {
    bus = await startPrivateSystemBus();
    client = bus.connect();
    manager = new SystemdManager(client);
  });

  after(async () => {
    await manager?.close();
    client?.disconnect();
    await bus?.stop();
  });

  beforeEach(async () => {
    // user.slice starts confined to CPUs 0-3 by the admin: that value must come back exactly.
    systemd = await startSystemdStandin(bus, { units: [{ name: 'user.slice', activeState: 'active', allowedCpus: [0x0f] }] });
    h = await cpuHost();
  });

  afterEach(async () => {
    await systemd.stop();
    await h.dispose();
  });

  const units = async (): Promise<Record<string, number[]>> => ({
    'system.slice': (await systemd.unit('system.slice')).allowedCpus,
    'user.slice': (await systemd.unit('user.slice')).allowedCpus,
    'init.scope': (await systemd.unit('init.scope')).allowedCpus,
  });
  const cpus = () => h.manager({ win10: ISOLATE }, { systemd: systemdAllowedCpus(manager) });

  it('prepare confines system.slice, user.slice and init.scope at runtime with the ay mask; release restores each exactly, "" and 0-3 alike', async () => {
    const before = await units();
    await cpus().prepare(win10);
    assert.deepEqual(await units(), { 'system.slice': HOUSEKEEPING_MASK, 'user.slice': HOUSEKEEPING_MASK, 'init.scope': HOUSEKEEPING_MASK });
    const calls = await systemd.calls('SetUnitProperties');
    assert.deepEqual(
      calls.map((c) => c.args),
      ['system.slice', 'user.slice', 'init.scope'].map((unit) => [unit, true, [['AllowedCPUs', { signature: 'ay', value: HOUSEKEEPING_MASK }]]]),
    );
    assert.equal(calls[0].interface, 'org.freedesktop.systemd1.Manager');

    systemd.clearCalls();
    await cpus().release('win10');
    assert.deepEqual(await units(), before);
    assert.deepEqual(before['user.slice'], [0x0f]);
    assert.deepEqual(
      (await systemd.calls('SetUnitProperties')).map((c) => c.args),
      [
        ['init.scope', true, [['AllowedCPUs', { signature: 'ay', value: [] }]]],
        ['user.slice', true, [['AllowedCPUs', { signature: 'ay', value: [0x0f] }]]],
        ['system.slice', true, [['AllowedCPUs', { signature: 'ay', value: [] }]]],
      ],
    );
    assert.deepEqual(cpuRecords(h.stateDir), []);
  });

  it('a failure midway (a governor the kernel refuses) rolls the units back over the bus', async () => {
    const before = await units();
    const knobs = cpuKnobs(h.host);
    injectFault(h.host.root, { path: 'sys/devices/system/cpu/cpu2/cpufreq/scaling_governor', value: 'performance', effect: { kind: 'fail', errno: 'EBUSY' } });
    const m = h.manager({ win10: { ...ISOLATE, governor: true } }, { systemd: systemdAllowedCpus(manager) });
    await assert.rejects(m.prepare(win10), /^CpuError: CPU isolation of VM win10 failed at 'set the cpufreq governor of cpu2 to performance'.*every change was undone/);
    assert.equal((await systemd.calls('SetUnitProperties')).length, 6);
    assert.deepEqual(await units(), before);
    assert.deepEqual(cpuKnobs(h.host), knobs);
    assert.deepEqual(cpuRecords(h.stateDir), []);
  });

  it('systemd refusing SetUnitProperties: the error names systemd\'s answer; a unit already confined as wanted gets no call', async () => {
    await systemd.setUnit({ name: 'system.slice', allowedCpus: HOUSEKEEPING_MASK });
    const before = await units();
    await systemd.failNext({ member: 'SetUnitProperties', errorName: 'org.freedesktop.DBus.Error.AccessDenied', message: 'Access denied', times: 1 });
    await assert.rejects(cpus().prepare(win10), (e: unknown) => {
      assert.ok(e instanceof CpuError);
      assert.match(
        e.message,
        /^CPU isolation of VM win10 failed at 'confine user\.slice to CPUs 0,3-8,11-15': org\.freedesktop\.systemd1\.Manager\.SetUnitProperties failed: Access denied \(org\.freedesktop\.DBus\.Error\.AccessDenied\); every change was undone/,
      );
      return true;
    });
    assert.deepEqual((await systemd.calls('SetUnitProperties')).map((c) => c.args[0]), ['user.slice']);
    assert.deepEqual(await units(), before);
  });

  it('an undo systemd refuses at release keeps the record; the daemon\'s next start restores the units', async () => {
    const before = await units();
    await cpus().prepare(win10);
    await systemd.failNext({ member: 'SetUnitProperties', errorName: 'org.freedesktop.DBus.Error.NoReply', message: 'Did not receive a reply', times: 1 });
    await assert.rejects(cpus().release('win10'), /^CpuError: giving back the CPUs of VM win10 failed at 'confine init\.scope to CPUs 0,3-8,11-15': .*Did not receive a reply.*; the record \S+win10\.prepare\.json is kept and gpu-hookd tries again when it next starts/);
    assert.deepEqual(cpuRecords(h.stateDir), ['win10.prepare.json']);
    const [r] = await cpus().recover(async () => false);
    assert.equal(r.outcome, 'restored');
    assert.deepEqual(await units(), before);
  });

  it('a systemd that is not on the bus fails prepare before any change, saying so', async () => {
    await systemd.stop();
    await assert.rejects(cpus().prepare(win10), (e: unknown) => {
      assert.ok(e instanceof CpuError);
      assert.match(e.message, /^CPU isolation of VM win10 could not read the host's current settings, so nothing was changed: .*org\.freedesktop\.systemd1/);
      return true;
    });
    systemd = await startSystemdStandin(bus);
  });
});
