// Detach ends by asking the kernel whether a VM may now open the group, where the kernel can be asked:
// a "not viable" answer fails the last step, and the move is rolled back.

import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/engine-error';
import type { HostIO } from '../../../src/host/host-io';
import type { VfioGroupStatus } from '../../../src/host/vfio-group-status';
import { snapshotHost } from '../../../src/sim/snapshot';
import { assertHostRestored, simEngine, type SimEngine } from './sim-engine';

const GPU = '0000:01:00.0';

/** The simulated host with a kernel that answers VFIO_GROUP_GET_STATUS as given. */
function answering(status: VfioGroupStatus, asked: string[]): (io: HostIO) => HostIO {
  return (io) => {
    const kernel = Object.create(io) as HostIO;
    kernel.vfioGroupStatus = (group) => {
      asked.push(group);
      return status;
    };
    return kernel;
  };
}

describe("engine: detach checks the kernel's viability of the group it built", () => {
  let sim: SimEngine | undefined;
  afterEach(async () => {
    await sim?.dispose();
    sim = undefined;
  });

  it('succeeds when the kernel calls the group viable', async () => {
    const asked: string[] = [];
    sim = await simEngine('seed', { io: answering({ answer: 'status', viable: true, containerSet: false }, asked) });
    const report = await sim.engine.detach(GPU);
    assert.equal(report.changed, true);
    assert.ok(asked.includes('13'), `the kernel was not asked about group 13: ${asked.join(', ')}`);
  });

  it('fails at the last step and rolls back when the kernel says not viable', async () => {
    sim = await simEngine('seed', { io: answering({ answer: 'status', viable: false, containerSet: false }, []) });
    const before = snapshotHost(sim.host.io);
    const e = await sim.engine.detach(GPU).then(
      () => assert.fail('the detach should fail'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof EngineError, String(e));
    assert.match(e.message, /failed at 'wait for \/dev\/vfio\/13': the kernel reports IOMMU group 13 not viable \(VFIO_GROUP_GET_STATUS\)/);
    assert.match(e.message, /restored to its previous state/);
    assertHostRestored(snapshotHost(sim.host.io), before);
  });

  it('goes by the node alone where the kernel cannot be asked', async () => {
    sim = await simEngine('seed', { io: answering({ answer: 'unavailable', why: 'not root' }, []) });
    assert.equal((await sim.engine.detach(GPU)).changed, true);
  });
});
