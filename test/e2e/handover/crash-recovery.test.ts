// A handover killed (SIGKILL) mid-way, at each of its own steps and in the group detach between
// them; recovery in another process, talking to the same stand-ins, gives the desktop back: the
// display manager runs again, fbcon and the GPU's driver are back, nothing is left recorded. The
// seed has no firmware framebuffer left at boot (nouveau removed it), so the kill while unbinding efifb
// runs on the host that really keeps one: the seed desktop on the proprietary nvidia stack.

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
import { findVtconsole } from '../../../src/host/consoles';
import { driversOf, FBCON, GPU, handoverSuite, HOST_DRIVERS, SEED_DM_PIDS, SETTINGS, simProcessRuns, TIMEOUTS, type HandoverHost } from './handover-host';
import { DM_UNIT } from '../../../src/sim/desktop/simulated-desktop';
import { NVIDIA_DESKTOP, NVIDIA_HOST_DRIVERS, nvidiaDesktop } from './nvidia-desktop';

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

/** Where the child is killed on the seed (it has no efifb to unbind: nouveau removed it at boot). */
const BLOCKED_WRITES: [string, FaultRule][] = [
  ['unbinding fbcon\'s vtconsole', { path: 'sys/class/vtconsole/vtcon1/bind', effect: { kind: 'block' } }],
  ['unbinding nouveau in the group detach', { path: 'sys/bus/pci/drivers/nouveau/unbind', effect: { kind: 'block' } }],
  ['waiting for the last probe of the group', { path: 'sys/bus/pci/drivers_probe', nth: 4, effect: { kind: 'block' } }],
  ['unloading nouveau after the group detach', { path: 'modprobe', value: '-r nouveau', effect: { kind: 'block' } }],
];

describe('recovery of a single-GPU handover killed mid-way', function () {
  this.timeout(60_000);
  const suite = handoverSuite();


  /** What the host runs when the handover is undone: the group's drivers and the desktop's processes. */
  interface Desktop {
    drivers: string[];
    pids: number[];
  }
  const SEED: Desktop = { drivers: HOST_DRIVERS, pids: SEED_DM_PIDS };

  async function recoverAndCheck(h: HandoverHost, before: ReturnType<typeof snapshotHost>, where: string, desktop: Desktop = SEED): Promise<void> {
    assert.equal(journalFiles(h.stateDir).length, 1, `${where}: the journal survives the kill`);
    const report = await recoverInterruptedTransition(h.stateDir, h.sim.io, { services: h.services, timeouts: TIMEOUTS });
    assert.deepEqual(report.transitions.map((t) => [t.outcome, t.error]), [['restored', undefined]], where);
    assert.equal((await h.desktop.systemd.unit(DM_UNIT)).activeState, 'active', `${where}: the display manager runs again`);
    for (const pid of desktop.pids) assert.equal(simProcessRuns(h, pid), true, `${where}: process ${pid} runs`);
    assert.deepEqual(driversOf(h), desktop.drivers, where);
    assertHostRestored(snapshotHost(h.sim.io), before, where);
    assert.deepEqual(journalFiles(h.stateDir), [], where);
    assert.equal(h.engine.ledger.load(GPU), undefined, `${where}: no record left`);
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

  async function killAtBlockedWrite(host: HandoverHost, rule: FaultRule): Promise<void> {
    const id = injectFault(host.sim.root, rule);
    const run = startChild(host, suite.bus());
    await waitUntil(() => fired(host.sim.root, id) || run.exited(), 15_000);
    assert.ok(fired(host.sim.root, id), `the child never reached the blocked write: ${run.output() || 'no output'}`);
    await kill(run.child);
  }

  /** Killed with the efifb unbind in flight (not done yet), and just after it (efifb unbound). */
  const EFIFB_KILLS: [string, FaultRule, string | null][] = [
    ['while unbinding efifb', { path: 'sys/bus/platform/drivers/efi-framebuffer/unbind', effect: { kind: 'block' } }, 'efi-framebuffer'],
    ['just after unbinding efifb', { path: 'modprobe', value: '-r nvidia_drm', effect: { kind: 'block' } }, null],
  ];
  for (const [where, rule, efifbAtKill] of EFIFB_KILLS) {
    it(`${where} on the NVIDIA desktop: efifb is bound again with fbcon on it, and the nvidia stack is back`, async () => {
      const host = await suite.host({ scenario: nvidiaDesktop(), desktop: NVIDIA_DESKTOP });
      const before = snapshotHost(host.sim.io);
      assert.deepEqual(before.platformFramebuffers, [{ device: 'efi-framebuffer.0', driver: 'efi-framebuffer' }], 'efifb is bound at boot');
      await killAtBlockedWrite(host, rule);
      assert.deepEqual(snapshotHost(host.sim.io).platformFramebuffers, [{ device: 'efi-framebuffer.0', driver: efifbAtKill }], 'efifb at the kill');
      await recoverAndCheck(host, before, `killed ${where}`, { drivers: NVIDIA_HOST_DRIVERS, pids: [...SEED_DM_PIDS, 700] });
      assert.deepEqual(snapshotHost(host.sim.io).platformFramebuffers, before.platformFramebuffers, 'efifb is bound again');
      assert.equal(findVtconsole(host.sim.io, FBCON)?.bound, true, 'fbcon is back on it');
    });
  }

  for (const [where, rule] of BLOCKED_WRITES) {
    it(`while ${where}: undoes every step up to it, the display manager's stop included`, async () => {
      const host = await suite.host();
      const before = snapshotHost(host.sim.io);
      await killAtBlockedWrite(host, rule);
      await recoverAndCheck(host, before, `killed while ${where}`);
    });
  }
});
