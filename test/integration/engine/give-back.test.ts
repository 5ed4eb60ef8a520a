// The give-back's second chance on the simulated host: a card whose host driver cannot take it until
// it is reset, one that binds without its DRM device, one that never comes back, one with no reset at
// all, one reset only through its bus; the other GPU's display untouched; and a fault or a SIGKILL at
// every write of the retry path, after which the host is where it was and the next attach brings it back.

import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/engine-error';
import { recoverInterruptedTransition } from '../../../src/engine/recovery';
import { faultCounts, FAULT_ERRNOS, injectFault, clearFaults, unwedgeFunction, wedgeFunction, type FaultRule } from '../../../src/sim/faults';
import type { Scenario } from '../../../src/sim/scenario';
import { loadScenario } from '../../../src/sim/scenarios';
import { snapshotHost, type HostSnapshot } from '../../../src/sim/snapshot';
import { assertHostRestored, childBlockedAt, failure, journalFiles, kill, simEngine, type SimEngine } from './sim-engine';

const GPU = '0000:01:00.0';
const CARD = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const PROBE_MS = 100;

/** The seed with the card's reset capabilities, ids or kernel changed. */
function seed(change: { release?: string; card?: Partial<Scenario['devices'][number]> } = {}): Scenario {
  const s = loadScenario('seed');
  return {
    ...s,
    kernel: { ...s.kernel, release: change.release ?? s.kernel.release },
    devices: s.devices.map((d) => (CARD.includes(d.address) ? { ...d, ...change.card, address: d.address, ...(d.address === GPU ? {} : { vendor: d.vendor, device: d.device }) } : d)),
  };
}


const onVfio = (sim: SimEngine): boolean => CARD.every((a) => sim.host.io.readLinkName(`sys/bus/pci/devices/${a}/driver`) === 'vfio-pci');

describe('give back with a second chance', function () {
  this.timeout(120_000);
  let sim: SimEngine | undefined;
  afterEach(async () => {
    await sim?.dispose();
    sim = undefined;
  });

  /** The host before detach, and the engine with the card detached. */
  async function detached(scenario: Scenario | string = 'seed'): Promise<{ sim: SimEngine; atBoot: HostSnapshot }> {
    sim = await simEngine(scenario, { timeouts: { probeMs: PROBE_MS } });
    const atBoot = snapshotHost(sim.host.io);
    await sim.engine.detach(GPU, { owner: 'win10' });
    return { sim, atBoot };
  }

  it('a card whose driver cannot probe it until it is reset: reset, probed again, the host exactly as at boot', async () => {
    const { sim, atBoot } = await detached();
    wedgeFunction(sim.host.root, GPU, 'probe-fails');
    const report = await sim.engine.attach(GPU);
    const order = report.steps.map((s) => s.description);
    assert.ok(order.includes(`reset ${GPU} (pm)`), order.join(' | '));
    assert.equal(order.filter((d) => d === `probe ${GPU} for nouveau`).length, 1, 'the report holds the attempt that worked');
    assertHostRestored(snapshotHost(sim.host.io), atBoot);
    assert.deepEqual(journalFiles(sim.stateDir), []);
    assert.equal(sim.engine.ledger.load(GPU), undefined);
    assert.equal(sim.engine.ledger.failure(GPU), undefined);
  });

  it('a card whose driver binds but registers no DRM device: the probe is refused as failed, the card reset and probed again', async () => {
    const { sim, atBoot } = await detached();
    wedgeFunction(sim.host.root, GPU, 'no-nodes');
    const report = await sim.engine.attach(GPU);
    assert.ok(report.steps.some((s) => s.description === `reset ${GPU} (pm)`));
    assertHostRestored(snapshotHost(sim.host.io), atBoot);
    assert.equal(sim.host.io.exists('dev/dri/card0'), true);
  });

  it('a card that never comes back: Mode failed with one sentence naming the function, driver, resets and what to do; attach again retries the whole give-back', async () => {
    const { sim, atBoot } = await detached();
    wedgeFunction(sim.host.root, GPU, 'no-nodes');
    wedgeFunction(sim.host.root, GPU, 'forever');
    const e = await failure(sim.engine.attach(GPU));
    assert.equal(
      e.message,
      `attach of ${GPU} failed: ${GPU} did not come back to nouveau ('probe ${GPU} for nouveau': ${GPU} is unbound instead of nouveau ` +
        `${PROBE_MS} ms after the probe) and 2 resets were tried (reset ${GPU} (pm); reset ${GPU} (pm)); it stays on vfio-pci, and the ` +
        `host's other GPUs are untouched: suspend the host once (systemctl suspend, then wake it) or reboot to power-cycle the card, ` +
        `then run gpu-hookctl attach ${GPU}`,
    );
    assert.equal(e.code, 'Failed');
    assert.ok(onVfio(sim), 'every function is back in vfio-pci\'s hands');
    assert.deepEqual(journalFiles(sim.stateDir), []);
    assert.equal(sim.engine.ledger.failure(GPU), e.message, 'the GPU reads as failed');
    assert.ok(sim.engine.ledger.load(GPU), 'the record stays for the next attach');

    unwedgeFunction(sim.host.root, GPU);
    await sim.engine.attach(GPU);
    assertHostRestored(snapshotHost(sim.host.io), atBoot);
    assert.equal(sim.engine.ledger.failure(GPU), undefined);
  });

  it('a card with no reset at all: no reset is tried, and the sentence says so', async () => {
    const { sim } = await detached(seed({ card: { reset: { flr: false, pm: false, busReset: true } } }));
    wedgeFunction(sim.host.root, GPU, 'probe-fails');
    const before = snapshotHost(sim.host.io);
    const e = await failure(sim.engine.attach(GPU));
    assert.match(e.message, /did not come back to nouveau .* and no reset could be tried \(it has no reset method and its bus is shared or cannot be reset alone\); it stays on vfio-pci/);
    assertHostRestored(snapshotHost(sim.host.io), before);
    assert.equal(sim.engine.ledger.failure(GPU), e.message);
  });

  it('a card with no function reset on a kernel with reset_subordinate: its bus is reset (every function on it is the GPU\'s)', async () => {
    const { sim, atBoot } = await detached(seed({ release: '6.14.0-sim', card: { reset: { flr: false, pm: false, busReset: true } } }));
    wedgeFunction(sim.host.root, GPU, 'probe-fails');
    const report = await sim.engine.attach(GPU);
    assert.ok(report.steps.some((s) => s.description === `reset the bus below 0000:00:01.0 (${CARD.join(', ')})`), report.steps.map((s) => s.description).join(' | '));
    assertHostRestored(snapshotHost(sim.host.io), atBoot);
  });

  it('an AMD card vendor-reset exists for: the sentence says what to install first', async () => {
    const polaris = seed({ card: { vendor: '1002', device: '67df' } });
    const nouveau = polaris.modules.find((m) => m.name === 'nouveau');
    nouveau?.drivers[0].ids.push('1002:67df');
    const { sim } = await detached(polaris);
    wedgeFunction(sim.host.root, GPU, 'forever');
    const e = await failure(sim.engine.attach(GPU));
    assert.match(e.message, /did not come back to nouveau .* no reset could be tried .*: install vendor-reset .* then suspend the host once/);
  });

  it('another GPU\'s display is untouched when this one does not come back', async () => {
    sim = await simEngine('two-gpu', { timeouts: { probeMs: PROBE_MS } });
    const gpus = snapshotHost(sim.host.io);
    const dgpu = '0000:01:00.0';
    await sim.engine.detach(dgpu, { owner: 'win10' });
    const detachedState = snapshotHost(sim.host.io);
    wedgeFunction(sim.host.root, dgpu, 'forever');
    await failure(sim.engine.attach(dgpu));
    const after = snapshotHost(sim.host.io);
    assert.deepEqual(after, detachedState, 'only the failed card was touched, and it is back where it was');
    assert.deepEqual(after.framebuffers, gpus.framebuffers, 'the desktop GPU keeps its framebuffer and console');
    assert.deepEqual(after.vtconsoles, gpus.vtconsoles);
  });

  /** The writes of an attach that needs one reset, counted by a rule that never fires. */
  async function retryWrites(): Promise<number> {
    const { sim: counting } = await detached();
    wedgeFunction(counting.host.root, GPU, 'probe-fails');
    const counter = injectFault(counting.host.root, { path: '**', nth: 1_000_000, effect: { kind: 'fail', errno: 'EIO' } });
    await counting.engine.attach(GPU);
    const n = faultCounts(counting.host.root).find((c) => c.id === counter)?.matched ?? 0;
    await counting.dispose();
    sim = undefined;
    return n;
  }

  it('a failed write at every step of the retry path: the host ends on vfio-pci (after recovery when a rollback write was the one refused) or on its drivers, and the next attach brings it back', async () => {
    const writes = await retryWrites();
    assert.ok(writes > 20, `an attach with one reset writes the attach twice and the reset (counted ${writes})`);
    for (let n = 1; n <= writes; n++) {
      const where = `write ${n} of ${writes}`;
      const { sim: s, atBoot } = await detached();
      wedgeFunction(s.host.root, GPU, 'probe-fails');
      const detachedState = snapshotHost(s.host.io);
      const rule: FaultRule = { path: '**', nth: n, times: 1, effect: { kind: 'fail', errno: FAULT_ERRNOS[n % FAULT_ERRNOS.length] } };
      injectFault(s.host.root, rule);
      const outcome = await s.engine.attach(GPU).then(
        () => 'attached',
        (e: unknown) => e,
      );
      if (outcome !== 'attached') {
        assert.ok(outcome instanceof EngineError, `${where}: ${String(outcome)}`);
        clearFaults(s.host.root);
        if (outcome.details.journal !== undefined) {
          // The refused write was one of a rollback's: the journal is kept, and a restart's recovery finishes it.
          const report = await recoverInterruptedTransition(s.stateDir, s.host.io);
          assert.deepEqual(report.transitions.map((t) => t.outcome), ['restored'], `${where}: ${report.transitions[0]?.error ?? ''}`);
        }
        assertHostRestored(snapshotHost(s.host.io), detachedState, `${where}: ${outcome.message}`);
        await s.engine.attach(GPU);
      }
      assertHostRestored(snapshotHost(s.host.io), atBoot, where);
      assert.deepEqual(journalFiles(s.stateDir), [], where);
      await s.dispose();
      sim = undefined;
    }
  });

  it('SIGKILL at every write of the retry path: recovery puts the card back in vfio-pci\'s hands, and the next attach brings it back', async () => {
    const writes = await retryWrites();
    for (let n = 1; n <= writes; n++) {
      const where = `killed at write ${n} of ${writes}`;
      const { sim: s, atBoot } = await detached();
      wedgeFunction(s.host.root, GPU, 'probe-fails');
      const detachedState = snapshotHost(s.host.io);
      const rule = injectFault(s.host.root, { path: '**', nth: n, times: 1, effect: { kind: 'block' } });
      await kill(await childBlockedAt(s, 'attach', rule, GPU, PROBE_MS));
      const report = await recoverInterruptedTransition(s.stateDir, s.host.io);
      assert.deepEqual(report.transitions.map((t) => t.outcome), ['restored'], `${where}: ${report.transitions[0]?.error ?? ''}`);
      assertHostRestored(snapshotHost(s.host.io), detachedState, where);
      clearFaults(s.host.root);
      await s.engine.attach(GPU);
      assertHostRestored(snapshotHost(s.host.io), atBoot, where);
      await s.dispose();
      sim = undefined;
    }
  });
});
