// A failure at every write of detach and of attach: each must name the step in flight and leave the
// host exactly as it was before the transition.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StepEvent, TransitionOptions, TransitionReport } from '../../../src/engine/transition-engine';
import type { HostIO } from '../../../src/host/host-io';
import { FAULT_ERRNOS, faultCounts, holdGroup, injectFault, releaseGroup } from '../../../src/sim/faults';
import { snapshotHost } from '../../../src/sim/snapshot';
import { assertHostRestored, assertTransitionUndone, failure, simEngine, type SimEngine } from './sim-engine';

const GPU = '0000:01:00.0';

type Kind = 'detach' | 'attach';

/** The description of the step in flight at each kernel write (and modprobe) of one clean transition. */
async function writesOf(kind: Kind): Promise<string[]> {
  let current = '';
  const writes: string[] = [];
  const sim = await simEngine('seed', {
    io: (io) => {
      const recording = Object.create(io) as HostIO;
      recording.write = (rel, value, options) => {
        writes.push(current);
        return io.write(rel, value, options);
      };
      recording.loadModule = (name, options) => {
        writes.push(current);
        return io.loadModule(name, options);
      };
      return recording;
    },
  });
  try {
    if (kind === 'attach') await sim.engine.detach(GPU);
    writes.length = 0;
    await run(sim, kind, { onStep: (e: StepEvent) => void (e.status === 'started' && (current = e.description)) });
    return writes;
  } finally {
    await sim.dispose();
  }
}

function run(sim: SimEngine, kind: Kind, opts: TransitionOptions = {}): Promise<TransitionReport> {
  return kind === 'detach' ? sim.engine.detach(GPU, { owner: 'win10', ...opts }) : sim.engine.attach(GPU, opts);
}


for (const kind of ['detach', 'attach'] as const) {
  describe(`${kind} with a failure injected at each write`, function () {
    this.timeout(60_000);
    let writes: string[];
    before(async () => {
      writes = await writesOf(kind);
      assert.ok(writes.length >= 12, `a clean ${kind} of the seed's GPU writes at least 12 times`);
    });

    it('fails naming the step in flight and leaves the host exactly as before, at every write', async () => {
      for (let n = 1; n <= writes.length; n++) {
        const errno = FAULT_ERRNOS[n % FAULT_ERRNOS.length];
        const sim = await simEngine('seed');
        try {
          if (kind === 'attach') await sim.engine.detach(GPU);
          const before = snapshotHost(sim.host.io);
          const rule = injectFault(sim.host.root, { path: '**', nth: n, times: 1, effect: { kind: 'fail', errno } });
          const e = await failure(run(sim, kind));
          const where = `write ${n} of ${writes.length} (${errno})`;
          assert.equal(faultCounts(sim.host.root).find((c) => c.id === rule)?.fired, 1, where);
          assert.ok(e.message.startsWith(`${kind} of ${GPU} failed at '${writes[n - 1]}': `), `${where}: ${e.message}`);
          assert.match(e.message, new RegExp(`${errno}.*; the host was restored to its previous state`), where);
          assert.equal(e.code, errno === 'EBUSY' ? 'Busy' : 'Failed', where);
          assertTransitionUndone(sim, kind, GPU, before, where);
        } finally {
          await sim.dispose();
        }
      }
    });
  });
}

describe('engine with writes that block or drivers that will not bind', () => {
  let sim: SimEngine;
  afterEach(() => sim.dispose());

  it('a detach whose unbind blocks fails with a timeout and restores the host', async () => {
    sim = await simEngine('seed', { timeouts: { writeMs: 200 } });
    const before = snapshotHost(sim.host.io);
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers/snd_hda_intel/unbind', effect: { kind: 'block' } });
    const e = await failure(sim.engine.detach(GPU));
    assert.equal(e.code, 'Timeout');
    assert.match(e.message, /failed at 'unbind 0000:01:00\.1 from snd_hda_intel': .* did not return within 200 ms.*restored/);
    assertHostRestored(snapshotHost(sim.host.io), before);
  });

  it('an attach while a VM still holds the group is refused before any write and leaves the GPU on vfio-pci', async () => {
    sim = await simEngine('seed', { timeouts: { writeMs: 200 } });
    await sim.engine.detach(GPU);
    const before = snapshotHost(sim.host.io);
    holdGroup(sim.host.root, 13);
    const e = await failure(sim.engine.attach(GPU));
    assert.equal(e.code, 'Busy');
    assert.match(e.message, /^attach of 0000:01:00\.0 refused before any change: device still in use by 4242\/qemu-system-x86 \(it holds \/dev\/vfio\/13\)/);
    assert.deepEqual(snapshotHost(sim.host.io), before);
    assert.ok(sim.engine.ledger.load(GPU), 'the record stays for the next attach');
    releaseGroup(sim.host.root, 13);
    await sim.engine.attach(GPU);
  });

  it('a detach whose GPU record cannot be written (written while the first steps run) rolls them back and names the file', async () => {
    sim = await simEngine('seed');
    const before = snapshotHost(sim.host.io);
    let saves = 0;
    sim.engine.ledger.save = async () => {
      saves++;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    const e = await failure(sim.engine.detach(GPU));
    assert.equal(saves, 1);
    assert.match(
      e.message,
      /^detach of 0000:01:00\.0 failed at 'wait for \/dev\/vfio\/13': the GPU record \S+\/gpus\/0000:01:00\.0\.json could not be written: ENOSPC: no space left on device, write; the host was restored to its previous state/,
    );
    assert.equal(sim.engine.ledger.load(GPU), undefined);
    assertHostRestored(snapshotHost(sim.host.io), before);
    assert.deepEqual(fs.readdirSync(path.join(sim.stateDir, 'journal')), [], 'no journal left');
  });

  it('a detach with nothing to move whose new owner cannot be recorded fails naming the file, the host unchanged', async () => {
    sim = await simEngine('seed');
    await sim.engine.detach(GPU, { owner: 'win10' });
    const before = snapshotHost(sim.host.io);
    sim.engine.ledger.save = async () => {
      throw new Error('ENOSPC: no space left on device, write');
    };
    const e = await failure(sim.engine.detach(GPU, { owner: 'win11' }));
    assert.match(e.message, /^detach of 0000:01:00\.0 failed: the GPU record \S+\/gpus\/0000:01:00\.0\.json could not be written: ENOSPC: no space left on device, write; nothing on the host was changed$/);
    assert.deepEqual(snapshotHost(sim.host.io), before);
    assert.equal(sim.engine.ledger.load(GPU)?.owner, 'win10');
  });

  it('an attach whose host driver will not bind fails at the verified probe, after the resets it may try, and goes back to vfio-pci', async () => {
    sim = await simEngine('seed', { timeouts: { probeMs: 100, giveBackResets: 1 } });
    await sim.engine.detach(GPU);
    const before = snapshotHost(sim.host.io);
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers_probe', value: '0000:01:00.1', effect: { kind: 'no-bind', driver: 'snd_hda_intel' } });
    const e = await failure(sim.engine.attach(GPU));
    assert.match(
      e.message,
      /0000:01:00\.1 did not come back to snd_hda_intel \('probe 0000:01:00\.1 for snd_hda_intel': 0000:01:00\.1 is unbound instead of snd_hda_intel 100 ms after the probe\) and one reset was tried \(reset 0000:01:00\.1 \(pm\)\)/,
    );
    assertHostRestored(snapshotHost(sim.host.io), before);
  });
});
