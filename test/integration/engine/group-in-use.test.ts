// Attach while a VM still holds the group: on the real kernel the unbind from vfio-pci would block
// until QEMU exits and could not be called off, so the engine looks for holders first and refuses
// before any change. A holder that appears after that look makes the unbind time out: that function
// is left to the kernel (no read or write of it until the group is let go) and the next attach
// finishes the job.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostIO } from '../../../src/host/host-io';
import { holdGroup, injectFault, releaseGroup } from '../../../src/sim/faults';
import { snapshotHost } from '../../../src/sim/snapshot';
import { TransitionEngine } from '../../../src/engine/transition-engine';
import { assertHostRestored, assertTransitionUndone, failure, journalFiles, simEngine, type SimEngine } from './sim-engine';

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
    assert.ok(sim.engine.ledger.load(GPU), 'the record stays for the retry');

    quit();
    const report = await sim.engine.attach(GPU);
    assert.equal(report.changed, true);
    assertHostRestored(snapshotHost(sim.host.io), hostBefore);
  });

  describe('a holder that opens the group after that look', () => {
    /** Kernel calls that take 0000:01:00.0's device lock once its unbind is waiting: on a real kernel
     *  each would block (a read, the event loop) until the VM lets go. */
    let locked: string[];
    let unbindStarted: boolean;
    let racingIo: HostIO;

    /** The VM starts between the engine's look and its first unbind from vfio-pci. */
    async function racingHost(): Promise<SimEngine> {
      locked = [];
      unbindStarted = false;
      const engineSim = await simEngine('seed', {
        timeouts: { writeMs: 200 },
        io: (io) => {
          const racing = Object.create(io) as HostIO;
          racing.write = (rel, value, options) => {
            if (unbindStarted && (rel.includes(GPU) || value.trim() === GPU)) locked.push(`write ${value.trim()} to ${rel}`);
            if (!unbindStarted && rel === 'sys/bus/pci/drivers/vfio-pci/unbind' && value === GPU) {
              unbindStarted = true;
              holdGroup(engineSim.host.root, GROUP, QEMU);
            }
            return io.write(rel, value, options);
          };
          racing.readText = (rel) => {
            if (unbindStarted && rel === `sys/bus/pci/devices/${GPU}/driver_override`) locked.push(`read ${rel}`);
            return io.readText(rel);
          };
          racingIo = racing;
          return racing;
        },
      });
      return engineSim;
    }

    it('leaves the function whose unbind timed out to the kernel, refuses until the VM is gone, then the next attach finishes the job', async () => {
      sim = await racingHost();
      const hostBefore = snapshotHost(sim.host.io);
      await sim.engine.detach(GPU);

      const e = await failure(sim.engine.attach(GPU));
      assert.equal(e.code, 'Timeout');
      // The functions' runs go side by side: every one whose unbind from vfio-pci started after the
      // VM took the group waits in the kernel too, and each of those is left to it.
      const left = /the kernel finishes the unbind of (.+?) from vfio-pci by itself/.exec(e.message)?.[1] ?? '';
      const leftDevices = left.split(/, | and /);
      assert.ok(leftDevices.includes(GPU), e.message);
      const them = leftDevices.length > 1 ? 'them' : 'it';
      assert.match(
        e.message,
        new RegExp(
          `^attach of 0000:01:00\\.0 failed at 'unbind 0000:01:00\\.0 from vfio-pci': writing "0000:01:00\\.0" to \\S+/sys/bus/pci/drivers/vfio-pci/unbind did not return within 200 ms: .*; ` +
            'device still in use by 2817/qemu-system-x86 \\(it holds /dev/vfio/13\\); the kernel finishes the unbind of [0-9a-f:., and]+ from vfio-pci by itself once the VM lets go ' +
            `of the group and then leaves ${them} with no driver, so gpu-hookd left [0-9a-f:., and]+ alone and undid the rest: once the VM is gone, run gpu-hookctl attach ` +
            '0000:01:00\\.0 again to give every function back to its host driver$',
        ),
      );
      // A kept journal is what the daemon reads as Mode "failed".
      assert.ok(e.details.journal && journalFiles(sim.stateDir).length === 1, 'the journal is kept');
      assert.ok(sim.engine.ledger.load(GPU), 'the record stays for the next attach');
      for (const f of ['0000:01:00.1', '0000:01:00.2', '0000:01:00.3'].filter((d) => !leftDevices.includes(d))) {
        assert.equal(sim.host.io.readLinkName(`sys/bus/pci/devices/${f}/driver`), 'vfio-pci', `${f}, not left to the kernel, is back on vfio-pci`);
      }

      const retry = await failure(sim.engine.attach(GPU));
      assert.equal(retry.code, 'Busy');
      assert.equal(
        retry.message,
        `attach of ${GPU} refused before any change: the kernel is still unbinding ${left} from vfio-pci and finishes only when the group is let go ` +
          '(device still in use by 2817/qemu-system-x86 (it holds /dev/vfio/13)); shut the VM down (virsh shutdown or virsh destroy) or stop the process, then run attach again',
      );
      assert.deepEqual(locked, [], 'nothing waits on the device lock of the function left to the kernel');

      releaseGroup(sim.host.root, GROUP);
      assert.equal(sim.host.io.readLinkName(`sys/bus/pci/devices/${GPU}/driver`), undefined, 'the kernel finished the unbind: no driver');
      const report = await sim.engine.attach(GPU);
      assert.ok(report.steps.some((s) => s.description === `probe ${GPU} for nouveau`), report.steps.map((s) => s.description).join(' | '));
      assertTransitionUndone(sim, 'detach', GPU, hostBefore, 'after the attach that finished the job');
    });

    it('recovery at the next start leaves that function alone while the group is held, and undoes the attach once it is let go', async () => {
      sim = await racingHost();
      await sim.engine.detach(GPU);
      const detached = snapshotHost(sim.host.io);
      await failure(sim.engine.attach(GPU));
      const restarted = new TransitionEngine({ io: racingIo, stateDir: sim.stateDir, timeouts: { writeMs: 200, probeMs: 500 } });

      const held = await restarted.recover();
      assert.equal(held.transitions.length, 1);
      assert.equal(held.transitions[0].outcome, 'failed');
      assert.ok(held.transitions[0].leftToKernel?.includes(GPU), held.transitions[0].error);
      const them = (held.transitions[0].leftToKernel?.length ?? 0) > 1 ? 'them' : 'it';
      assert.match(
        held.transitions[0].error ?? '',
        new RegExp(
          '^the interrupted attach of 0000:01:00\\.0 was not undone for [0-9a-f:., and]+: the kernel is still unbinding ' +
            `${them} from vfio-pci and finishes only when the VM lets go of its group, leaving ${them} with no driver; the journal \\S+ is kept: ` +
            'once the VM is gone, run gpu-hookctl attach 0000:01:00\\.0 to give every function back to its host driver$',
        ),
      );
      assert.deepEqual(locked, [], 'recovery waited on no device lock');
      assert.equal(journalFiles(sim.stateDir).length, 1, 'the journal stays for the next start');

      releaseGroup(sim.host.root, GROUP);
      const free = await restarted.recover();
      assert.equal(free.transitions[0].outcome, 'restored', free.transitions[0].error);
      // Undone means as before the attach: the GPU is back on vfio-pci and its record is kept.
      assert.deepEqual(snapshotHost(sim.host.io), detached);
      assert.ok(restarted.ledger.load(GPU));
    });
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
