// The single-GPU handover on the simulated seed host (its only GPU drives the console: boot VGA,
// nouveau with fbcon on its framebuffer, efifb removed at boot by nouveau, sddm's Xorg holding /dev/dri/card0),
// with systemd and logind stand-ins answering over the private bus with their real interfaces.

import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/engine-error';
import { findVtconsole } from '../../../src/host/consoles';
import { isModuleLoaded } from '../../../src/host/modules';
import { snapshotHost } from '../../../src/sim/snapshot';
import { assertHostRestored, journalFiles } from '../../integration/engine/sim-engine';
import { holdDevice, type DeviceHolder } from './device-holder';
import { waitFor } from '../../support/processes';
import { DM_UNIT } from '../../../src/sim/desktop/simulated-desktop';
import { driversOf, FBCON, GPU, GROUP, handoverSuite, HOST_DRIVERS, SEED_DM_PIDS, seedVariant, SETTINGS, simProcessRuns, type HandoverHost } from './handover-host';

const ALL_VFIO = GROUP.map(() => 'vfio-pci');

describe('single-GPU handover on the simulated seed host', function () {
  this.timeout(30_000);
  const suite = handoverSuite();
  let holder: DeviceHolder | undefined;

  afterEach(async () => {
    await holder?.release();
    holder = undefined;
  });

  /** The detach failed before the GPU moved: the host is as before, the display manager runs, nothing is recorded. */
  async function assertDesktopBack(h: HandoverHost, before: ReturnType<typeof snapshotHost>): Promise<void> {
    assert.equal((await h.desktop.systemd.unit(DM_UNIT)).activeState, 'active');
    for (const pid of SEED_DM_PIDS) assert.equal(simProcessRuns(h, pid), true, `display manager process ${pid} runs`);
    assertHostRestored(snapshotHost(h.sim.io), before);
    assert.deepEqual(journalFiles(h.stateDir), []);
    assert.equal(h.engine.ledger.load(GPU), undefined);
  }

  it('hands the GPU over (display manager stopped, fbcon unbound) and gives the desktop back', async () => {
    const host = await suite.host();
    const before = snapshotHost(host.sim.io);

    const detach = await host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS });
    assert.deepEqual(detach.steps.slice(0, 4).map((s) => s.description), [
      'stop display-manager.service',
      'check that no process holds 0000:01:00.0',
      `unbind vtconsole "${FBCON}"`,
      'set driver_override of 0000:01:00.0 to vfio-pci',
    ]);
    assert.deepEqual(driversOf(host), ALL_VFIO);
    assert.equal((await host.desktop.systemd.unit(DM_UNIT)).activeState, 'inactive');
    for (const pid of SEED_DM_PIDS) assert.equal(simProcessRuns(host, pid), false, `display manager process ${pid} ended`);
    assert.equal(findVtconsole(host.sim.io, FBCON), undefined, 'fbcon left with the last framebuffer');
    assert.deepEqual(journalFiles(host.stateDir), []);
    assert.deepEqual(host.engine.ledger.load(GPU)?.handover?.map((s) => s.kind), ['stop-unit', 'check-holders', 'unbind-vtconsole']);

    const attach = await host.engine.attach(GPU);
    assert.deepEqual(driversOf(host), HOST_DRIVERS);
    assert.deepEqual(attach.steps.slice(-3).map((s) => s.description), [
      'probe 0000:01:00.3 for nvidia-gpu',
      `bind vtconsole "${FBCON}"`,
      'start display-manager.service',
    ]);
    assert.equal((await host.desktop.systemd.unit(DM_UNIT)).activeState, 'active');
    for (const pid of SEED_DM_PIDS) assert.equal(simProcessRuns(host, pid), true, `display manager process ${pid} back`);
    assert.equal(findVtconsole(host.sim.io, FBCON)?.bound, true, 'fbcon holds the console again');
    assertHostRestored(snapshotHost(host.sim.io), before);
    assert.equal(host.engine.ledger.load(GPU), undefined);
    assert.deepEqual(
      (await host.desktop.systemd.calls()).filter((c) => c.member === 'StopUnit' || c.member === 'StartUnit').map((c) => [c.member, c.args]),
      [
        ['StopUnit', ['display-manager.service', 'replace']],
        ['StartUnit', ['display-manager.service', 'replace']],
      ],
    );
  });

  it('refuses a display manager that does not stop in time, naming it, and starts it again', async () => {
    const host = await suite.host({ desktop: { dm: { stop: 'never' } }, timeouts: { unitJobMs: 300 } });
    const before = snapshotHost(host.sim.io);
    await assert.rejects(host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS }), (e: unknown) => {
      assert.ok(e instanceof EngineError);
      assert.equal(e.code, 'Timeout');
      assert.equal(
        e.message,
        `detach of ${GPU} failed at 'stop display-manager.service': display-manager.service did not stop within 300 ms ` +
          `(systemd's stop job is still running); the host was restored to its previous state: find out what holds it up with ` +
          `"journalctl -u display-manager.service", or give it longer with timeouts.displayManagerStopMs`,
      );
      return true;
    });
    assert.equal((await host.desktop.systemd.unit(DM_UNIT)).activeState, 'active');
    assert.deepEqual(snapshotHost(host.sim.io), before);
    assert.deepEqual(journalFiles(host.stateDir), []);
    assert.equal(host.engine.ledger.load(GPU), undefined);
  });

  it('refuses a process of the test that holds /dev/dri/card0, naming it and its PID, and gives the desktop back', async () => {
    const host = await suite.host();
    const before = snapshotHost(host.sim.io);
    holder = await holdDevice(host.sim.root, 'dev/dri/card0');
    await assert.rejects(host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS }), (e: unknown) => {
      assert.ok(e instanceof EngineError);
      assert.equal(e.code, 'Busy');
      assert.equal(
        e.message,
        `detach of ${GPU} failed at 'check that no process holds ${GPU}': node (PID ${holder?.pid}) holds /dev/dri/card0; ` +
          `the host was restored to its previous state: close it and try again, or set holders to "terminate" to let gpu-hookd end them`,
      );
      return true;
    });
    await assertDesktopBack(host, before);
  });

  it('with holders "terminate", asks the holder to exit (SIGTERM) and goes on once it has', async () => {
    const host = await suite.host();
    holder = await holdDevice(host.sim.root, 'dev/dri/card0');
    const report = await host.engine.detach(GPU, { owner: 'win10', handover: { ...SETTINGS, holders: 'terminate' } });
    assert.equal(await holder.exited, 'SIGTERM');
    assert.equal(report.steps[1].note, `terminated node (PID ${holder.pid})`);
    assert.deepEqual(driversOf(host), ALL_VFIO);
  });

  it('ends the graphical sessions on the GPU\'s seat when asked, and leaves the others', async () => {
    const sessions = [
      { id: '2', uid: 1000, user: 'alice', type: 'wayland' },
      { id: 'c1', uid: 120, user: 'sddm', type: 'x11', class: 'greeter' },
      { id: '3', uid: 1000, user: 'alice', type: 'tty' },
      { id: '7', uid: 1001, user: 'bob', type: 'x11', seat: 'seat1' },
    ];
    const host = await suite.host({ desktop: { sessions } });
    const report = await host.engine.detach(GPU, { owner: 'win10', handover: { ...SETTINGS, endSessions: true } });
    assert.deepEqual(report.steps[1], { ...report.steps[1], description: 'end the graphical sessions on seat0', note: 'ended sessions 2 (alice, wayland), c1 (sddm, x11 greeter)' });
    assert.deepEqual((await host.desktop.logind.sessions()).map((x) => x.id), ['3', '7']);
    assert.deepEqual((await host.desktop.logind.calls('TerminateSession')).map((c) => c.args), [['2'], ['c1']]);
  });

  it('names the graphical sessions still open when it refuses a holder without endSessions', async () => {
    const host = await suite.host({ desktop: { sessions: [{ id: '2', uid: 1000, user: 'alice', type: 'wayland' }] } });
    holder = await holdDevice(host.sim.root, 'dev/dri/renderD128');
    await assert.rejects(
      host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS }),
      new RegExp(`node \\(PID ${holder.pid}\\) holds /dev/dri/renderD128; graphical sessions still open on seat0: 2 \\(alice, wayland\\); .*or set endSessions`),
    );
    assert.deepEqual(await host.desktop.logind.calls('TerminateSession'), []);
  });

  describe('sessions logind ends a moment after the display manager stops', () => {
    // Here Xorg (845) runs in sddm's greeter session rather than in sddm's unit: it exits only when
    // logind ends the session, after the stop job is done, as a real logind does.
    const greeter = { id: 'c1', uid: 120, user: 'sddm', type: 'x11', class: 'greeter', pids: [845] };

    it('waits for the session to end (logind\'s signals, bounded) and names no session that was ending anyway', async () => {
      const ending = { ...greeter, endsWithUnit: { unit: DM_UNIT, closingAfterMs: 50, removedAfterMs: 300 } };
      const host = await suite.host({ desktop: { dmPids: [812], sessions: [ending] }, timeouts: { sessionEndMs: 20_000 } });
      const report = await host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS });
      assert.deepEqual(driversOf(host), ALL_VFIO);
      assert.equal(report.steps[1].description, `check that no process holds ${GPU}`);
      assert.equal(simProcessRuns(host, 845), false, 'Xorg exited with its session');
      assert.deepEqual(await host.desktop.logind.sessions(), []);
      assert.deepEqual(await host.desktop.logind.calls('TerminateSession'), [], 'logind ended it by itself');
    });

    it('names a session that stays open, once the bound has passed, beside the process holding the GPU', async () => {
      const host = await suite.host({ desktop: { dmPids: [812], sessions: [greeter] }, timeouts: { sessionEndMs: 300 } });
      await assert.rejects(host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS }), (e: unknown) => {
        assert.ok(e instanceof EngineError);
        assert.equal(e.code, 'Busy');
        assert.match(e.message, /: Xorg \(PID 845\) holds \/dev\/dri\/card0, \/dev\/dri\/renderD128; graphical sessions still open on seat0: c1 \(sddm, x11 greeter\); /);
        return true;
      });
      assert.deepEqual((await host.desktop.logind.sessions()).map((x) => [x.id, x.state]), [['c1', 'active']]);
    });

    it('names a session logind closes but never removes as closing', async () => {
      const stuck = { ...greeter, endsWithUnit: { unit: DM_UNIT, closingAfterMs: 0, removedAfterMs: 3_600_000 } };
      const host = await suite.host({ desktop: { dmPids: [812], sessions: [stuck] }, timeouts: { sessionEndMs: 300 } });
      await assert.rejects(host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS }), /: Xorg \(PID 845\) holds \/dev\/dri\/card0, \/dev\/dri\/renderD128; graphical sessions still open on seat0: c1 \(sddm, x11 greeter, closing\); /);
    });

    it('with endSessions, waits for a closing session instead of terminating it', async () => {
      const closing = { ...greeter, pids: [], state: 'closing', terminate: { never: true } };
      const host = await suite.host({ desktop: { dmPids: [812, 845], sessions: [closing] }, timeouts: { unitJobMs: 20_000 } });
      const listed = (await host.desktop.logind.calls('ListSessions')).length;
      const detaching = host.engine.detach(GPU, { owner: 'win10', handover: { ...SETTINGS, endSessions: true } });
      // logind ends it once the step has seen it closing.
      await waitFor('the step listing the sessions', async () => (await host.desktop.logind.calls('ListSessions')).length > listed);
      await host.desktop.logind.removeSession('c1');
      const report = await detaching;
      assert.equal(report.steps[1].note, 'waited for c1 (sddm, x11 greeter, closing), which logind was ending');
      assert.deepEqual(await host.desktop.logind.calls('TerminateSession'), []);
    });
  });

  it('unloads nouveau once the group is on vfio-pci and loads it back on return, modules exactly as before', async () => {
    const host = await suite.host();
    const before = snapshotHost(host.sim.io);
    const detach = await host.engine.detach(GPU, { owner: 'win10', handover: { ...SETTINGS, unloadModules: true } });
    assert.equal(detach.steps[detach.steps.length - 1].description, 'unload kernel module nouveau');
    assert.equal(isModuleLoaded(host.sim.io, 'nouveau'), false);
    await host.engine.attach(GPU);
    assert.deepEqual(driversOf(host), HOST_DRIVERS);
    assertHostRestored(snapshotHost(host.sim.io), before);
  });

  it('refuses when nouveau is in use, naming its users, and gives the desktop back', async () => {
    const busy = seedVariant('seed-nouveau-busy', (f) => ({ ...f, modules: f.modules?.map((m) => (m.name === 'nouveau' ? { ...m, refcnt: 1 } : m)) }));
    const host = await suite.host({ scenario: busy });
    const before = snapshotHost(host.sim.io);
    await assert.rejects(host.engine.detach(GPU, { owner: 'win10', handover: { ...SETTINGS, unloadModules: true } }), (e: unknown) => {
      assert.ok(e instanceof EngineError);
      assert.equal(e.code, 'Busy');
      assert.match(e.message, /^detach of 0000:01:00\.0 failed at 'unload kernel module nouveau': kernel module nouveau could not be unloaded \(refcount 1\): Module nouveau is in use; the host was restored to its previous state: stop what uses it/);
      return true;
    });
    assert.deepEqual(driversOf(host), HOST_DRIVERS);
    await assertDesktopBack(host, before);
  });
});
