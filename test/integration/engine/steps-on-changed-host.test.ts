// A function's steps write first and read only when the kernel refused (or verify afterwards): these
// tests move a function behind the engine's back between its plan and its step, and check that each
// step still says what happened in one sentence and changes nothing it should not.

import assert from 'node:assert/strict';
import { DEFAULT_TIMEOUTS, silentLog, type StepContext } from '../../../src/engine/step-executor';
import type { StepSpec } from '../../../src/engine/step-spec';
import { builtinStepRegistry } from '../../../src/engine/steps/builtin-steps';
import { snapshotHost } from '../../../src/sim/snapshot';
import { simEngine, type SimEngine } from './sim-engine';

const AUDIO = '0000:01:00.1';

describe('function steps on a host that changed since the plan (seed host)', () => {
  let sim: SimEngine;
  let ctx: StepContext;
  const registry = builtinStepRegistry();
  const run = async (spec: StepSpec): Promise<void> => {
    const executor = registry.executorFor(spec);
    await executor.do(ctx, spec);
    await executor.verify(ctx, spec);
  };

  beforeEach(async () => {
    sim = await simEngine('seed');
    ctx = { io: sim.host.io, log: silentLog, timeouts: { ...DEFAULT_TIMEOUTS, writeMs: 500, probeMs: 300 } };
  });
  afterEach(() => sim.dispose());

  it('an unbind planned from another driver than the one bound now is refused, naming both, and nothing changes', async () => {
    const before = snapshotHost(sim.host.io);
    assert.equal(before.pciDevices[AUDIO].driver, 'snd_hda_intel');
    await assert.rejects(
      run({ kind: 'unbind-driver', device: AUDIO, driver: 'xhci_hcd', restoreOverride: null }),
      /^Error: 0000:01:00\.1 is bound to snd_hda_intel, not xhci_hcd as planned$/,
    );
    assert.deepEqual(snapshotHost(sim.host.io), before);
  });

  it('an unbind of a function something else already unbound succeeds and writes nothing more', async () => {
    await sim.host.io.write(`sys/bus/pci/drivers/snd_hda_intel/unbind`, AUDIO);
    const before = snapshotHost(sim.host.io);
    assert.equal(before.pciDevices[AUDIO].driver, null);
    await run({ kind: 'unbind-driver', device: AUDIO, driver: 'snd_hda_intel', restoreOverride: null });
    assert.deepEqual(snapshotHost(sim.host.io), before);
  });

  it('a probe of a function that a driver took meanwhile leaves it there and fails verification naming that driver', async () => {
    const before = snapshotHost(sim.host.io);
    await assert.rejects(run({ kind: 'probe-driver', device: AUDIO, expect: 'vfio-pci' }), /^Error: 0000:01:00\.1 is bound to snd_hda_intel instead of vfio-pci 300 ms after the probe$/);
    assert.deepEqual(snapshotHost(sim.host.io), before);
  });

  it('setting driver_override to the value it already has changes nothing and verifies', async () => {
    await sim.host.io.write(`sys/bus/pci/devices/${AUDIO}/driver_override`, 'vfio-pci');
    const before = snapshotHost(sim.host.io);
    await run({ kind: 'set-override', device: AUDIO, value: 'vfio-pci', previous: null });
    assert.deepEqual(snapshotHost(sim.host.io), before);
    assert.equal(before.pciDevices[AUDIO].override, 'vfio-pci');
  });
});
