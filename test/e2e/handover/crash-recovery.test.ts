// A handover killed (SIGKILL) mid-way, at each of its own steps and in the group detach between
// them; recovery in another process, talking to the same stand-ins, gives the desktop back: the
// display manager runs again, fbcon and the GPU's driver are back, nothing is left recorded.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { recoverInterruptedTransition } from '../../../src/engine/recovery';
import { waitUntil } from '../../../src/engine/wait-until';
import { faultCounts, injectFault, type FaultRule } from '../../../src/sim/faults';
import { snapshotHost } from '../../../src/sim/snapshot';
import type { PrivateBus } from '../../support/private-bus';
import { spawnTracked } from '../../support/processes';
import { assertHostRestored, journalFiles } from '../../integration/engine/sim-engine';
import { driversOf, GPU, handoverSuite, HOST_DRIVERS, SEED_DM_PIDS, SETTINGS, simProcessRuns, TIMEOUTS, type HandoverHost } from './handover-host';
import { DM_UNIT } from '../../../src/sim/desktop/simulated-desktop';

const CHILD = path.join(__dirname, 'handover-child.js');

function startChild(host: HandoverHost, bus: PrivateBus): { child: ChildProcess; output: () => string; exited: () => boolean } {
  const child = spawnTracked(process.execPath, [CHILD, host.sim.root, host.stateDir, bus.address, JSON.stringify({ ...SETTINGS, unloadModules: true })], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exited = false;
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.on('exit', () => (exited = true));
  return { child, output: () => output, exited: () => exited };
}

async function kill(child: ChildProcess): Promise<void> {
  const gone = new Promise((resolve) => child.on('exit', resolve));
  process.kill(child.pid as number, 'SIGKILL');
  await gone;
}

function fired(root: string, rule: number): boolean {
  return faultCounts(root).find((c) => c.id === rule)?.fired === 1;
}

/** Where the child is killed (the seed has no efifb to unbind: nouveau removed it at boot). */
const BLOCKED_WRITES: [string, FaultRule][] = [
  ['unbinding fbcon\'s vtconsole', { path: 'sys/class/vtconsole/vtcon1/bind', effect: { kind: 'block' } }],
  ['unbinding nouveau in the group detach', { path: 'sys/bus/pci/drivers/nouveau/unbind', effect: { kind: 'block' } }],
  ['waiting for the last probe of the group', { path: 'sys/bus/pci/drivers_probe', nth: 4, effect: { kind: 'block' } }],
  ['unloading nouveau after the group detach', { path: 'modprobe', value: '-r nouveau', effect: { kind: 'block' } }],
];

describe('recovery of a single-GPU handover killed mid-way', function () {
  this.timeout(60_000);
  const suite = handoverSuite();


  async function recoverAndCheck(h: HandoverHost, before: ReturnType<typeof snapshotHost>, where: string): Promise<void> {
    assert.equal(journalFiles(h.stateDir).length, 1, `${where}: the journal survives the kill`);
    const report = await recoverInterruptedTransition(h.stateDir, h.sim.io, { services: h.services, timeouts: TIMEOUTS });
    assert.deepEqual(report.transitions.map((t) => [t.outcome, t.error]), [['restored', undefined]], where);
    assert.equal((await h.desktop.systemd.unit(DM_UNIT)).activeState, 'active', `${where}: the display manager runs again`);
    for (const pid of SEED_DM_PIDS) assert.equal(simProcessRuns(h, pid), true, `${where}: process ${pid} runs`);
    assert.deepEqual(driversOf(h), HOST_DRIVERS, where);
    assertHostRestored(snapshotHost(h.sim.io), before, where);
    assert.deepEqual(journalFiles(h.stateDir), [], where);
    assert.equal(h.engine.records.load(GPU), undefined, `${where}: no record left`);
  }

  it('while the display manager stops: starts it again', async () => {
    const host = await suite.host({ desktop: { dm: { stop: 'never' } } });
    const before = snapshotHost(host.sim.io);
    const run = startChild(host, suite.bus());
    await host.desktop.systemd.waitForCall('StopUnit', () => true, 15_000);
    assert.equal(run.exited(), false, run.output());
    await kill(run.child);
    await recoverAndCheck(host, before, 'killed while the display manager stops');
  });

  for (const [where, rule] of BLOCKED_WRITES) {
    it(`while ${where}: undoes every step up to it, the display manager's stop included`, async () => {
      const host = await suite.host();
      const before = snapshotHost(host.sim.io);
      const id = injectFault(host.sim.root, rule);
      const run = startChild(host, suite.bus());
      await waitUntil(() => fired(host.sim.root, id) || run.exited(), 15_000);
      assert.ok(fired(host.sim.root, id), `the child never reached the blocked write: ${run.output() || 'no output'}`);
      await kill(run.child);
      await recoverAndCheck(host, before, `killed while ${where}`);
    });
  }
});
