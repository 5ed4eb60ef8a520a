// A VM given two GPUs releases them in the order they bound at boot, so that each gets its card,
// render node and framebuffer numbers back, whatever their PCI addresses' order: on the simulated
// iGPU + GeForce host the GeForce (01:00.0) bound first as card0, the iGPU (00:02.0) second as card1.

import assert from 'node:assert/strict';
import pino from 'pino';
import { GpuService } from '../../../src/daemon/gpu-service';
import { snapshotHost } from '../../../src/sim/snapshot';
import { buildTestDomainXml } from '../../support/safe-domain';
import { assertHostRestored, simEngine, type SimEngine } from '../engine/sim-engine';

describe('GpuService: a VM\'s two GPUs given back', () => {
  let sim: SimEngine | undefined;
  afterEach(async () => {
    await sim?.dispose();
    sim = undefined;
  });

  it('Release gives them back in boot order: every card, render node and framebuffer number as before Prepare', async () => {
    sim = await simEngine('igpu-nouveau');
    const service = new GpuService({ io: sim.host.io, engine: sim.engine, stateDir: sim.stateDir, log: pino({ level: 'silent' }) });
    await service.start();
    const xml = buildTestDomainXml({ name: 'twogpu', hostdevs: [{ address: '0000:00:02.0' }, { address: '0000:01:00.0' }, { address: '0000:01:00.1' }] });
    const before = snapshotHost(sim.host.io);
    const attached: string[] = [];
    sim.engine.on('started', (e) => {
      if (e.kind === 'attach') attached.push(e.gpu);
    });

    assert.deepEqual(await service.prepare('twogpu', xml), ['0000:00:02.0', '0000:01:00.0']);
    await service.release('twogpu', xml);

    assert.deepEqual(attached, ['0000:01:00.0', '0000:00:02.0']);
    assertHostRestored(snapshotHost(sim.host.io), before);
  });
});
