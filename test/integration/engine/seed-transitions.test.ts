import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../../../src/engine/engine-error';
import type { StepEvent } from '../../../src/engine/transition-engine';
import { clearFaults, injectFault } from '../../../src/sim/faults';
import { snapshotHost } from '../../../src/sim/snapshot';
import { assertHostRestored, journalFiles, simEngine, type SimEngine } from './sim-engine';

const GPU = '0000:01:00.0';
const FUNCTIONS = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];

describe('engine on the seed host', () => {
  let sim: SimEngine;
  beforeEach(async () => (sim = await simEngine('seed')));
  afterEach(() => sim.dispose());

  it('detaches all four functions to vfio-pci and attaches them back to their host drivers', async () => {
    const io = sim.host.io;
    const before = snapshotHost(io);
    const detached = await sim.engine.detach('01:00.0', { owner: 'win10' });
    assert.equal(detached.changed, true);
    assert.equal(detached.gpu, GPU);
    const during = snapshotHost(io);
    for (const f of FUNCTIONS) assert.deepEqual(during.pciDevices[f], { driver: 'vfio-pci', override: 'vfio-pci' }, f);
    assert.ok(during.vfio.includes('13'));
    assert.equal(sim.engine.ledger.load(GPU)?.owner, 'win10');
    assert.deepEqual(
      sim.engine.ledger.load(GPU)?.functions.map((f) => f.driver),
      ['nouveau', 'snd_hda_intel', 'xhci_hcd', 'nvidia-gpu'],
    );
    assert.deepEqual(journalFiles(sim.stateDir), []);

    const attached = await sim.engine.attach(GPU);
    assert.equal(attached.changed, true);
    assertHostRestored(snapshotHost(io), before);
    assert.equal(sim.engine.ledger.load(GPU), undefined);
    assert.deepEqual(journalFiles(sim.stateDir), []);
  });

  it('reports every step with its device and time, and emits started/finished events', async () => {
    const events: StepEvent[] = [];
    const report = await sim.engine.detach(GPU, { onStep: (e) => events.push(e) });
    assert.equal(report.steps.length, 13);
    assert.deepEqual(report.steps[1], { description: 'unbind 0000:01:00.0 from nouveau', device: GPU, ms: report.steps[1].ms });
    assert.equal(events.length, 26);
    assert.ok(events.every((e) => e.phase === 'do' && e.kind === 'detach' && e.gpu === GPU));
    const at = (status: string, index: number): number => events.findIndex((e) => e.status === status && e.index === index);
    for (let i = 0; i < 13; i++) assert.ok(at('started', i) >= 0 && at('started', i) < at('finished', i), `step ${i} starts, then finishes`);
    // A function's steps follow each other; the four functions' runs (steps 0-2, 3-5, ...) go side by side.
    for (let i = 0; i < 12; i++) if (i % 3 !== 2) assert.ok(at('finished', i) < at('started', i + 1), `step ${i + 1} waits for step ${i}`);
    assert.ok(at('started', 3) < at('finished', 0), 'the second function starts before the first one\'s first step ends');
    assert.ok(at('finished', 11) < at('started', 12), 'wait-vfio-group starts once every function is moved');
  });

  it('changes nothing when asked twice, and keeps the host state recorded the first time', async () => {
    await sim.engine.detach(GPU, { owner: 'win10' });
    const again = await sim.engine.detach('0000:01:00.1', { owner: 'win11' });
    assert.equal(again.changed, false);
    assert.deepEqual(again.steps, []);
    assert.equal(sim.engine.ledger.load(GPU)?.functions[0].driver, 'nouveau');
    assert.equal(sim.engine.ledger.load(GPU)?.owner, 'win11');
    await sim.engine.attach(GPU);
    assert.equal((await sim.engine.attach(GPU)).changed, false);
  });

  it('serialises transitions of one GPU', async () => {
    const before = snapshotHost(sim.host.io);
    const [detach, attach] = await Promise.all([sim.engine.detach(GPU), sim.engine.attach(GPU)]);
    assert.equal(detach.changed, true);
    assert.equal(attach.changed, true);
    assertHostRestored(snapshotHost(sim.host.io), before);
  });

  it('after a detach whose rollback failed, attach restores only what is still changed', async () => {
    const io = sim.host.io;
    const before = snapshotHost(io);
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers_probe', value: '0000:01:00.2', effect: { kind: 'fail', errno: 'EBUSY' } });
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers/xhci_hcd/bind', effect: { kind: 'fail', errno: 'EIO' } });
    const error = await sim.engine.detach(GPU).then(
      () => assert.fail('detach should fail'),
      (e: unknown) => e as EngineError,
    );
    assert.ok(error instanceof EngineError);
    assert.equal(error.code, 'Failed');
    assert.match(error.message, /failed at 'probe 0000:01:00\.2 for vfio-pci': .*EBUSY/);
    assert.match(error.message, /rolling back then failed too at 'unbind 0000:01:00\.2 from xhci_hcd': .*EIO/);
    assert.match(error.message, /the journal .* is kept/);
    assert.equal(journalFiles(sim.stateDir).length, 1);
    assert.equal(snapshotHost(io).pciDevices['0000:01:00.2'].driver, null);

    clearFaults(sim.host.root);
    const attached = await sim.engine.attach(GPU);
    assert.deepEqual(attached.steps.map((s) => s.description), ['probe 0000:01:00.2 for xhci_hcd']);
    assertHostRestored(snapshotHost(io), before);
    assert.deepEqual(journalFiles(sim.stateDir), []);
    assert.equal(sim.engine.ledger.load(GPU), undefined);
  });

  it('refuses bad input before touching the host', async () => {
    const before = snapshotHost(sim.host.io);
    const refusal = (address: string) => sim.engine.detach(address).then(
      () => assert.fail(`${address} should be refused`),
      (e: unknown) => e as EngineError,
    );
    for (const [address, code, pattern] of [
      ['../../../etc', 'InvalidArgument', /is not a PCI address/],
      ['0000:01:00.0/..', 'InvalidArgument', /is not a PCI address/],
      ['0000:02:00.0', 'InvalidArgument', /is not a GPU/],
      ['0000:09:00.0', 'NotFound', /no PCI device 0000:09:00\.0/],
    ] as const) {
      const e = await refusal(address);
      assert.ok(e instanceof EngineError, address);
      assert.equal(e.code, code, address);
      assert.match(e.message, pattern);
    }
    assert.deepEqual(snapshotHost(sim.host.io), before);
  });

  it('an attach of a GPU it never detached clears the driver_override of vfio-pci another tool left on its functions', async () => {
    for (const f of FUNCTIONS) await sim.host.io.write(`sys/bus/pci/devices/${f}/driver_override`, 'vfio-pci');
    const report = await sim.engine.attach(GPU);
    assert.equal(report.changed, true);
    const after = snapshotHost(sim.host.io);
    assert.deepEqual(FUNCTIONS.map((f) => after.pciDevices[f]), ['nouveau', 'snd_hda_intel', 'xhci_hcd', 'nvidia-gpu'].map((driver) => ({ driver, override: null })));
    assert.equal(sim.engine.ledger.load(GPU), undefined);
  });

  it('refuses, before any change, an attach whose recorded function has left the IOMMU group', async () => {
    await sim.engine.detach(GPU);
    // As after a hot removal: the kernel no longer lists 01:00.3 in the group.
    fs.rmSync(path.join(sim.host.root, 'sys/bus/pci/devices/0000:01:00.3/iommu_group'));
    const before = snapshotHost(sim.host.io);
    const e = await sim.engine.attach(GPU).catch((err: unknown) => err as EngineError);
    assert.ok(e instanceof EngineError);
    assert.equal(e.code, 'NotFound');
    assert.equal(
      e.message,
      'attach of 0000:01:00.0 refused before any change: its function 0000:01:00.3, recorded at detach, is no longer in the IOMMU group; ' +
        'rescan the PCI bus (echo 1 > /sys/bus/pci/rescan) and retry',
    );
    assert.deepEqual(snapshotHost(sim.host.io), before);
    assert.ok(sim.engine.ledger.load(GPU), 'the record stays');
  });
});
