// Every undo reads back what it restored: a write that returns but that the kernel does not follow
// (the simulator's "ignore" fault) makes the rollback say so, in one sentence, in the transition's
// error and its log; the journal stays, so a restart retries, and the GPU's ledger says half-way.

import assert from 'node:assert/strict';
import type { EngineLog } from '../../../src/engine/step-executor';
import { TransitionEngine } from '../../../src/engine/transition-engine';
import { clearFaults, injectFault } from '../../../src/sim/faults';
import { snapshotHost } from '../../../src/sim/snapshot';
import { assertHostRestored, failure, journalFiles, simEngine, TEST_TIMEOUTS, type SimEngine } from './sim-engine';

const GPU = '0000:01:00.0';


describe('undo reads back what it restored', () => {
  let sim: SimEngine;
  let errors: string[];
  let engine: TransitionEngine;
  beforeEach(async () => {
    sim = await simEngine('seed');
    errors = [];
    const log: EngineLog = { debug() {}, info() {}, warn() {}, error: (_o, msg) => errors.push(msg) };
    engine = new TransitionEngine({ io: sim.host.io, stateDir: sim.stateDir, timeouts: TEST_TIMEOUTS, log });
  });
  afterEach(() => sim.dispose());

  it('a driver_override the kernel did not clear again: the detach says so, keeps its journal, and the restart restores the host', async () => {
    const before = snapshotHost(sim.host.io);
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers/nouveau/unbind', value: GPU, effect: { kind: 'fail', errno: 'EIO' } });
    injectFault(sim.host.root, { path: `sys/bus/pci/devices/${GPU}/driver_override`, nth: 2, times: 1, effect: { kind: 'ignore' } });
    const e = await failure(engine.detach(GPU));
    const sentence =
      `rolling back then failed too at 'set driver_override of ${GPU} to vfio-pci': ` +
      `the undo's writes returned but the host did not follow: driver_override of ${GPU} reads vfio-pci instead of (null)`;
    assert.ok(e.message.includes(sentence), e.message);
    assert.ok(errors.some((m) => m.includes(sentence)), 'the log says it too');
    assert.equal(journalFiles(sim.stateDir).length, 1, 'the journal stays for the next start');
    assert.equal(engine.ledger.failure(GPU), e.message, 'the ledger calls the GPU half-way');

    clearFaults(sim.host.root);
    const report = await new TransitionEngine({ io: sim.host.io, stateDir: sim.stateDir, timeouts: TEST_TIMEOUTS }).recover();
    assert.deepEqual(report.transitions.map((t) => t.outcome), ['restored']);
    assertHostRestored(snapshotHost(sim.host.io), before);
  });

  it('a function the kernel did not unbind from its host driver when an attach rolls back: the attach says so', async () => {
    await engine.detach(GPU);
    // The audio function's probe comes once the GPU's driver has bound, so the GPU's probe is undone.
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers_probe', value: '0000:01:00.1', effect: { kind: 'fail', errno: 'EIO' } });
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers/nouveau/unbind', value: GPU, effect: { kind: 'ignore' } });
    const e = await failure(engine.attach(GPU));
    assert.match(
      e.message,
      /rolling back then failed too at 'probe 0000:01:00\.0 for nouveau': the undo's writes returned but the host did not follow: 0000:01:00\.0 is still bound to nouveau after the unbind/,
    );
    assert.equal(journalFiles(sim.stateDir).length, 1);
  });
});
