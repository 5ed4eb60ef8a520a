// Attach while a VM still holds the group: on the real kernel the unbind from vfio-pci would block
// until QEMU exits and could not be called off, so the engine looks for holders first and refuses
// before any change; a holder that appears after that look is named when the write times out.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../../../src/engine/engine-error';
import type { HostIO } from '../../../src/host/host-io';
import { holdGroup, injectFault, releaseGroup } from '../../../src/sim/faults';
import { snapshotHost } from '../../../src/sim/snapshot';
import { assertHostRestored, simEngine, type SimEngine } from './sim-engine';

const GPU = '0000:01:00.0';
const GROUP = '13';
const QEMU = { pid: 2817, comm: 'qemu-system-x86' };

/** What the kernel shows of a QEMU holding the group: its comm and an fd link to /dev/vfio/<group>. */
function qemuHoldsGroup(root: string): () => void {
  const dir = path.join(root, 'proc', String(QEMU.pid));
  fs.mkdirSync(path.join(dir, 'fd'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'comm'), `${QEMU.comm}\n`);
  fs.symlinkSync(`/dev/vfio/${GROUP}`, path.join(dir, 'fd', '18'));
  return () => fs.rmSync(dir, { recursive: true, force: true });
}

async function failure(promise: Promise<unknown>): Promise<EngineError> {
  const e = await promise.then(
    () => assert.fail('the attach should fail'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof EngineError, String(e));
  return e;
}

describe('engine: attach while a process holds the vfio group', () => {
  let sim: SimEngine | undefined;
  afterEach(async () => {
    await sim?.dispose();
    sim = undefined;
  });

  it('is refused before any change, naming the holder; once it is gone the same attach succeeds', async () => {
    let writes = 0;
    sim = await simEngine('seed', {
      io: (io) => {
        const counting = Object.create(io) as HostIO;
        counting.write = (rel, value, options) => {
          writes++;
          return io.write(rel, value, options);
        };
        return counting;
      },
    });
    const hostBefore = snapshotHost(sim.host.io);
    await sim.engine.detach(GPU);
    const detached = snapshotHost(sim.host.io);
    const quit = qemuHoldsGroup(sim.host.root);
    writes = 0;

    const e = await failure(sim.engine.attach(GPU));
    assert.equal(e.code, 'Busy');
    assert.equal(
      e.message,
      `attach of ${GPU} refused before any change: device still in use by 2817/qemu-system-x86 (it holds /dev/vfio/${GROUP}); ` +
        'unbinding it from vfio-pci now would block in the kernel until that process exits: shut the VM down ' +
        '(virsh shutdown or virsh destroy) or stop the process, then run attach again',
    );
    assert.equal(writes, 0, 'no write may reach the kernel');
    assert.deepEqual(snapshotHost(sim.host.io), detached);
    assert.ok(sim.engine.records.load(GPU), 'the record stays for the retry');

    quit();
    const report = await sim.engine.attach(GPU);
    assert.equal(report.changed, true);
    assertHostRestored(snapshotHost(sim.host.io), hostBefore);
  });

  it('a holder that opens the group after that look is named when the unbind times out', async () => {
    let opened = false;
    sim = await simEngine('seed', {
      timeouts: { writeMs: 200 },
      io: (io) => {
        const racing = Object.create(io) as HostIO;
        racing.write = (rel, value, options) => {
          // The VM starts between the engine's look and its first unbind from vfio-pci.
          if (!opened && rel === 'sys/bus/pci/drivers/vfio-pci/unbind' && sim) {
            opened = true;
            holdGroup(sim.host.root, GROUP, QEMU);
          }
          return io.write(rel, value, options);
        };
        return racing;
      },
    });
    await sim.engine.detach(GPU);
    const e = await failure(sim.engine.attach(GPU));
    releaseGroup(sim.host.root, GROUP);
    // The kernel holds the device's lock while the unbind waits, so the rollback's driver_override write waits too.
    assert.equal(e.code, 'Failed');
    assert.match(
      e.message,
      /^attach of 0000:01:00\.0 failed at 'unbind 0000:01:00\.0 from vfio-pci': writing .* did not return within 200 ms: .*; device still in use by 2817\/qemu-system-x86 \(it holds \/dev\/vfio\/13\); rolling back then failed too/,
    );
  });

  it('a timed-out write with no holder to name says nothing of one', async () => {
    sim = await simEngine('seed', { timeouts: { writeMs: 200 } });
    await sim.engine.detach(GPU);
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers/vfio-pci/unbind', effect: { kind: 'block' } });
    const e = await failure(sim.engine.attach(GPU));
    assert.equal(e.code, 'Timeout');
    assert.doesNotMatch(e.message, /in use by/);
  });
});
