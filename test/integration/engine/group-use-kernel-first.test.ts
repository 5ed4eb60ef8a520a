// Before an attach unbinds a group from vfio-pci, the kernel is asked whether anyone holds the group.
// It lets one process at a time open a group, so when it opens it for us no one holds it and the scan
// of every process's open files is skipped; the scan still names the holders when the kernel says
// busy, and is the whole check where the kernel cannot be asked.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../../../src/engine/engine-error';
import type { HostIO } from '../../../src/host/host-io';
import type { VfioGroupStatus } from '../../../src/host/vfio-group-status';
import { simEngine, type SimEngine } from './sim-engine';

const GPU = '0000:01:00.0';
const GROUP = '13';

/** What the test's kernel answers to VFIO_GROUP_GET_STATUS (absent: it cannot be asked), and how often proc was scanned. */
interface Kernel {
  status?: VfioGroupStatus;
  scans: number;
}

function answering(kernel: Kernel): (io: HostIO) => HostIO {
  return (io) => {
    const asked = Object.create(io) as HostIO;
    asked.vfioGroupStatus = () => kernel.status ?? { answer: 'unavailable', why: 'not asked in this test' };
    asked.list = (rel) => {
      if (rel === 'proc') kernel.scans++;
      return io.list(rel);
    };
    return asked;
  };
}

function qemuHoldsGroup(root: string): void {
  const dir = path.join(root, 'proc', '2817');
  fs.mkdirSync(path.join(dir, 'fd'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'comm'), 'qemu-system-x86\n');
  fs.symlinkSync(`/dev/vfio/${GROUP}`, path.join(dir, 'fd', '18'));
}

describe('engine: who holds the group, the kernel asked first', () => {
  let sim: SimEngine | undefined;
  afterEach(async () => {
    await sim?.dispose();
    sim = undefined;
  });

  it('attaches without scanning processes when the kernel opens the group', async () => {
    const kernel: Kernel = { scans: 0 };
    sim = await simEngine('seed', { io: answering(kernel) });
    await sim.engine.detach(GPU);
    kernel.status = { answer: 'status', viable: true, containerSet: false };
    kernel.scans = 0;
    assert.equal((await sim.engine.attach(GPU)).changed, true);
    assert.equal(kernel.scans, 0);
  });

  it('names the holder from the scan when the kernel says busy', async () => {
    const kernel: Kernel = { scans: 0 };
    sim = await simEngine('seed', { io: answering(kernel) });
    await sim.engine.detach(GPU);
    qemuHoldsGroup(sim.host.root);
    kernel.status = { answer: 'busy' };
    const e = await sim.engine.attach(GPU).then(
      () => assert.fail('the attach should be refused'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof EngineError, String(e));
    assert.equal(e.code, 'Busy');
    assert.match(e.message, /refused before any change: device still in use by 2817\/qemu-system-x86 \(it holds \/dev\/vfio\/13\)/);
    assert.equal(kernel.scans, 1);
  });

  it('scans processes where the kernel cannot be asked', async () => {
    const kernel: Kernel = { scans: 0 };
    sim = await simEngine('seed', { io: answering(kernel) });
    await sim.engine.detach(GPU);
    kernel.scans = 0;
    await sim.engine.attach(GPU);
    assert.equal(kernel.scans, 1);
  });
});
