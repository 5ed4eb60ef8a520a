// A transition killed (SIGKILL) while one of its writes hangs, at every write of detach and of
// attach; recovery in another process must bring the host back to where it was before.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { recoverInterruptedTransition } from '../../../src/engine/recovery';
import { faultCounts, injectFault } from '../../../src/sim/faults';
import { snapshotHost } from '../../../src/sim/snapshot';
import { assertTransitionUndone, childBlockedAt, journalFiles, kill, simEngine, type SimEngine } from './sim-engine';

const GPU = '0000:01:00.0';

/** How many writes a clean transition makes, counted by a rule that never fires. */
async function writeCount(kind: 'detach' | 'attach'): Promise<number> {
  const sim = await simEngine('seed');
  try {
    if (kind === 'attach') await sim.engine.detach(GPU);
    const counter = injectFault(sim.host.root, { path: '**', nth: 1_000_000, effect: { kind: 'fail', errno: 'EIO' } });
    await (kind === 'attach' ? sim.engine.attach(GPU) : sim.engine.detach(GPU));
    return faultCounts(sim.host.root).find((c) => c.id === counter)?.matched ?? 0;
  } finally {
    await sim.dispose();
  }
}

for (const kind of ['detach', 'attach'] as const) {
  describe(`recovery after a ${kind} killed mid-transition`, function () {
    this.timeout(120_000);

    it('undoes the interrupted transition at every write, so the host is as before it', async () => {
      const writes = await writeCount(kind);
      assert.ok(writes >= 12, `a clean ${kind} writes at least 12 times (counted ${writes})`);
      for (let n = 1; n <= writes; n++) {
        const where = `killed at write ${n} of ${writes}`;
        const sim = await simEngine('seed');
        try {
          if (kind === 'attach') await sim.engine.detach(GPU, { owner: 'win10' });
          const before = snapshotHost(sim.host.io);
          const rule = injectFault(sim.host.root, { path: '**', nth: n, times: 1, effect: { kind: 'block' } });
          await kill(await childBlockedAt(sim, kind, rule, GPU));
          assert.equal(journalFiles(sim.stateDir).length, 1, `${where}: the journal survives the kill`);

          const report = await recoverInterruptedTransition(sim.stateDir, sim.host.io);
          assert.equal(report.transitions.length, 1, where);
          assert.equal(report.transitions[0].outcome, 'restored', `${where}: ${report.transitions[0].error ?? ''}`);
          assert.equal(report.transitions[0].kind, kind, where);
          assertTransitionUndone(sim, kind, GPU, before, where);
        } finally {
          await sim.dispose();
        }
      }
    });
  });
}

describe('recovery of journals it cannot or need not undo', () => {
  let sim: SimEngine;
  beforeEach(async () => (sim = await simEngine('seed')));
  afterEach(() => sim.dispose());

  it('drops a journal written before the last reboot without touching the host', async () => {
    const bootIdFile = path.join(sim.host.root, 'proc/sys/kernel/random/boot_id');
    fs.mkdirSync(path.dirname(bootIdFile), { recursive: true });
    fs.writeFileSync(bootIdFile, 'boot-before\n');
    const rule = injectFault(sim.host.root, { path: 'sys/bus/pci/drivers_probe', nth: 2, times: 1, effect: { kind: 'block' } });
    await kill(await childBlockedAt(sim, 'detach', rule, GPU));
    fs.writeFileSync(bootIdFile, 'boot-after\n');
    const halfDone = snapshotHost(sim.host.io);

    const report = await recoverInterruptedTransition(sim.stateDir, sim.host.io);
    assert.deepEqual(report.transitions.map((t) => [t.outcome, t.undone.length]), [['stale', 0]]);
    assert.deepEqual(snapshotHost(sim.host.io), halfDone);
    assert.deepEqual(journalFiles(sim.stateDir), []);
  });

  it('keeps a damaged journal and says what to do', async () => {
    const dir = path.join(sim.stateDir, 'journal');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${GPU}.json`), '{"version":1,"id"');
    const report = await recoverInterruptedTransition(sim.stateDir, sim.host.io);
    assert.equal(report.transitions[0].outcome, 'unreadable');
    assert.match(report.transitions[0].error ?? '', /cannot be read .* fix them by hand and delete the file/);
    assert.deepEqual(journalFiles(sim.stateDir), [`${GPU}.json`]);
  });

  it('reports an undo the kernel did not follow, in one sentence, and keeps the journal for the next start', async () => {
    const rule = injectFault(sim.host.root, { path: 'sys/bus/pci/drivers_probe', nth: 4, times: 1, effect: { kind: 'block' } });
    await kill(await childBlockedAt(sim, 'detach', rule, GPU));
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers/vfio-pci/unbind', effect: { kind: 'ignore' } });
    const report = await recoverInterruptedTransition(sim.stateDir, sim.host.io);
    assert.equal(report.transitions[0].outcome, 'failed');
    assert.match(
      report.transitions[0].error ?? '',
      /undoing the interrupted detach of 0000:01:00\.0 failed at 'probe 0000:01:00\.\d for vfio-pci': the undo's writes returned but the host did not follow: 0000:01:00\.\d is still bound to vfio-pci after the unbind .*journal .* is kept/,
    );
    assert.equal(journalFiles(sim.stateDir).length, 1);
  });

  it('reports an undo that fails and keeps the journal for the next start', async () => {
    const rule = injectFault(sim.host.root, { path: 'sys/bus/pci/drivers/snd_hda_intel/unbind', effect: { kind: 'block' } });
    await kill(await childBlockedAt(sim, 'detach', rule, GPU));
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers/nouveau/bind', effect: { kind: 'fail', errno: 'EIO' } });
    const report = await recoverInterruptedTransition(sim.stateDir, sim.host.io);
    assert.equal(report.transitions[0].outcome, 'failed');
    assert.match(report.transitions[0].error ?? '', /undoing the interrupted detach of 0000:01:00\.0 failed at 'unbind 0000:01:00\.0 from nouveau': .*EIO.*journal .* is kept/);
    assert.equal(journalFiles(sim.stateDir).length, 1);
  });
});
