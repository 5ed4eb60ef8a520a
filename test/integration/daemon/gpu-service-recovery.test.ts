// GpuService.start() after a restart whose recovery could not undo a transition: the GPU's Mode says
// "failed" with recovery's sentence, whatever the kernel's drivers suggest, and a function the kernel
// is still unbinding from vfio-pci is not read (its driver_override would block the daemon).

import assert from 'node:assert/strict';
import pino from 'pino';
import { GpuService } from '../../../src/daemon/gpu-service';
import type { HostIO } from '../../../src/host/host-io';
import { TransitionEngine } from '../../../src/engine/transition-engine';
import { holdGroup, releaseGroup } from '../../../src/sim/faults';
import { simEngine, type SimEngine } from '../engine/sim-engine';

const GPU = '0000:01:00.0';
const GROUP = '13';

describe('GpuService.start() after a recovery that failed', () => {
  let sim: SimEngine | undefined;
  afterEach(async () => {
    if (sim) releaseGroup(sim.host.root, GROUP);
    await sim?.dispose();
    sim = undefined;
  });

  it('shows Mode failed with the recovery sentence and reads no driver_override of the function left to the kernel', async () => {
    const reads: string[] = [];
    let unbindStarted = false;
    let racingIo: HostIO | undefined;
    // The VM opens the group between the engine's look for holders and its unbind from vfio-pci.
    sim = await simEngine('seed', {
      timeouts: { writeMs: 200 },
      io: (io) => {
        const racing = Object.create(io) as HostIO;
        racing.write = (rel, value, options) => {
          if (!unbindStarted && rel === 'sys/bus/pci/drivers/vfio-pci/unbind' && value === GPU) {
            unbindStarted = true;
            holdGroup(io.root, GROUP, { pid: 2817, comm: 'qemu-system-x86' });
          }
          return io.write(rel, value, options);
        };
        racing.readText = (rel) => {
          if (unbindStarted && rel.endsWith('/driver_override')) reads.push(rel);
          return io.readText(rel);
        };
        racingIo = racing;
        return racing;
      },
    });
    await sim.engine.detach(GPU);
    // The functions' runs go side by side: each whose unbind started after the VM took the group is left.
    await assert.rejects(sim.engine.attach(GPU), /gpu-hookd left (\S+, )*0000:01:00\.0[0-9a-f:., and]* alone/);
    reads.length = 0;

    const io = racingIo as HostIO;
    const restarted = new TransitionEngine({ io, stateDir: sim.stateDir, timeouts: { writeMs: 200, probeMs: 500 } });
    const service = new GpuService({ io, engine: restarted, stateDir: sim.stateDir, log: pino({ level: 'silent' }) });
    await service.start();

    const view = service.view(GPU);
    assert.equal(view.mode, 'failed');
    const left = [...restarted.leftToKernel()];
    assert.ok(left.includes(GPU), left.join(' '));
    assert.match(view.lastError, /^the interrupted attach of 0000:01:00\.0 was not undone for (\S+, )*0000:01:00\.0[0-9a-f:., and]*: the kernel is still unbinding (it|them)/);
    const readsOfLeft = reads.filter((rel) => left.some((device) => rel.includes(device)));
    assert.deepEqual(readsOfLeft, [], 'nothing read the driver_override of a function left to the kernel');
  });
});
