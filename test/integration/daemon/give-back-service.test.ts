// What the daemon shows when a VM's GPU does not come back: Mode failed, LastError the one sentence,
// no VM holding it (the VM is gone), the host's other GPU untouched, and an attach by hand that runs
// the whole give-back again.

import assert from 'node:assert/strict';
import pino from 'pino';
import { GpuService } from '../../../src/daemon/gpu-service';
import { unwedgeFunction, wedgeFunction } from '../../../src/sim/faults';
import { snapshotHost } from '../../../src/sim/snapshot';
import { buildTestDomainXml } from '../../support/safe-domain';
import { assertHostRestored, simEngine, type SimEngine } from '../engine/sim-engine';

const DGPU = '0000:01:00.0';
const WIN10 = buildTestDomainXml({ name: 'win10', hostdevs: [{ address: DGPU }] });

describe('the daemon when a GPU does not come back', function () {
  this.timeout(30_000);
  let sim: SimEngine;
  afterEach(() => sim.dispose());

  it('Mode failed with the sentence, no owner, the other GPU as it was; attach by hand tries the give-back again', async () => {
    sim = await simEngine('two-gpu', { timeouts: { probeMs: 100 } });
    const atBoot = snapshotHost(sim.host.io);
    const service = new GpuService({ io: sim.host.io, engine: sim.engine, stateDir: sim.stateDir, log: pino({ level: 'silent' }) });
    await service.start();
    const desktop = service.list().find((v) => v.address !== DGPU);
    assert.ok(desktop, 'two-gpu has a second GPU for the desktop');

    await service.prepare('win10', WIN10);
    wedgeFunction(sim.host.root, DGPU, 'forever');
    await assert.rejects(service.release('win10', WIN10), /^ServiceError: attach of 0000:01:00\.0 failed: 0000:01:00\.0 did not come back to nvidia .* 2 resets were tried .*then run gpu-hookctl attach 0000:01:00\.0$/);
    const failed = service.view(DGPU);
    assert.equal(failed.mode, 'failed');
    assert.match(failed.lastError, /^attach of 0000:01:00\.0 failed: 0000:01:00\.0 did not come back to nvidia/);
    assert.equal(failed.owner, '', 'the VM is gone: nobody holds the GPU');
    assert.ok(Object.values(failed.drivers).every((d) => d === 'vfio-pci'));
    assert.deepEqual(service.view(desktop.address), desktop, 'the desktop GPU is untouched');

    unwedgeFunction(sim.host.root, DGPU);
    await service.attachByHand(DGPU);
    assert.deepEqual([service.view(DGPU).mode, service.view(DGPU).lastError], ['host', '']);
    assertHostRestored(snapshotHost(sim.host.io), atBoot);
  });
});
