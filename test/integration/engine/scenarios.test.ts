// Every built-in scenario through the engine: what moves, what must stay untouched, what is refused.

import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/engine-error';
import { discoverGpus } from '../../../src/host/gpu-inventory';
import { snapshotHost } from '../../../src/sim/snapshot';
import { assertHostRestored, journalFiles, simEngine, type SimEngine } from './sim-engine';

describe('engine on every scenario', () => {
  let sim: SimEngine;
  afterEach(() => sim.dispose());

  it('amd: loads vfio-pci first, moves the Radeon and its audio, and never unloads vfio', async () => {
    sim = await simEngine('amd');
    const before = snapshotHost(sim.host.io);
    assert.ok(!before.modules.includes('vfio_pci'));
    const detach = await sim.engine.detach('0000:0c:00.0');
    assert.equal(detach.steps[0].description, 'load kernel module vfio_pci');
    const during = snapshotHost(sim.host.io);
    assert.equal(during.pciDevices['0000:0c:00.0'].driver, 'vfio-pci');
    assert.equal(during.pciDevices['0000:0c:00.1'].driver, 'vfio-pci');
    assert.ok(during.vfio.includes('18'));
    await sim.engine.attach('0000:0c:00.0');
    const after = snapshotHost(sim.host.io);
    // vfio stays loaded, and with it /dev/vfio/vfio; everything else is as before.
    assert.ok(after.modules.includes('vfio_pci'));
    assert.deepEqual(after.vfio, ['vfio']);
    assertHostRestored({ ...after, modules: after.modules.filter((m) => before.modules.includes(m)), vfio: [] }, before);
  });

  it('two-gpu: moves the RTX 3060 while the iGPU keeps the desktop, its framebuffer and its console', async () => {
    sim = await simEngine('two-gpu');
    const before = snapshotHost(sim.host.io);
    await sim.engine.detach('0000:01:00.0', { owner: 'win11' });
    const during = snapshotHost(sim.host.io);
    assert.deepEqual(during.pciDevices['0000:00:02.0'], before.pciDevices['0000:00:02.0']);
    assert.deepEqual(during.framebuffers, before.framebuffers);
    assert.deepEqual(during.vtconsoles, before.vtconsoles);
    assert.equal(during.pciDevices['0000:01:00.1'].driver, 'vfio-pci');
    await sim.engine.attach('0000:01:00.0');
    assertHostRestored(snapshotHost(sim.host.io), before);
  });

  it('server-8gpu: moves the eight GPUs in parallel and back', async () => {
    sim = await simEngine('server-8gpu');
    const before = snapshotHost(sim.host.io);
    const gpus = discoverGpus(sim.host.io).gpus.filter((g) => g.name.includes('3090') || g.functions[0].vendorId === '10de');
    assert.equal(gpus.length, 8);
    const order: string[] = [];
    sim.engine.on('started', (e) => order.push(`start ${e.gpu}`));
    sim.engine.on('finished', (e) => order.push(`finish ${'report' in e ? e.report.gpu : e.gpu}`));
    const detached = await Promise.all(gpus.map((g) => sim.engine.detach(g.address, { owner: `vm${g.address}` })));
    assert.ok(detached.every((r) => r.changed));
    // Different groups do not wait for each other: a second GPU starts before the first one finishes.
    assert.ok(order.indexOf(`start ${gpus[1].address}`) < order.indexOf(`finish ${gpus[0].address}`), order.join(', '));
    const during = snapshotHost(sim.host.io);
    for (const g of gpus) for (const f of g.functions) assert.equal(during.pciDevices[f.address].driver, 'vfio-pci', f.address);
    assert.equal(sim.engine.ledger.list().length, 8);
    await Promise.all(gpus.map((g) => sim.engine.attach(g.address)));
    assertHostRestored(snapshotHost(sim.host.io), before);
    assert.deepEqual(sim.engine.ledger.list(), []);
    assert.deepEqual(journalFiles(sim.stateDir), []);
  });

  it('shared-group: refuses before any change and names the NIC that shares the group', async () => {
    sim = await simEngine('shared-group');
    const before = snapshotHost(sim.host.io);
    const e = await sim.engine.detach('0000:01:00.0').catch((err: unknown) => err);
    assert.ok(e instanceof EngineError);
    assert.equal(e.code, 'NotViable');
    assert.match(e.message, /detach of 0000:01:00\.0 refused before any change: 0000:02:00\.0 .*igb/);
    assert.deepEqual(snapshotHost(sim.host.io), before);
    assert.equal(sim.engine.ledger.load('0000:01:00.0'), undefined);
    assert.deepEqual(journalFiles(sim.stateDir), []);
  });
});
