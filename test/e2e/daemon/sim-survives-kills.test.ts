// The simulated host outlives any crash of the daemon: the daemon runs a loop of Prepare, Release,
// Detach and Attach and is killed (SIGKILL) at a random moment of it, 200 times; after each kill the
// simulated host's tree and its emulator's model agree (src/sim/consistency.ts), and the restarted
// daemon goes on from there. Kills that land inside a kernel operation leave an undo log, which the
// next opener of the host rolls back (src/sim/undo-log.ts); the test counts them to show it did hit
// operations in flight, not only the gaps between them.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { simHostDisagreements } from '../../../src/sim/consistency';
import { SimPaths } from '../../../src/sim/sim-state';
import { buildTestDomainXml } from '../../support/safe-domain';
import { DaemonUnderTest } from './daemon-under-test';

const KILLS = 200;
const GPU = '0000:01:00.0';
const FUNCTIONS = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const VM_XML = buildTestDomainXml({ name: 'win10', hostdevs: FUNCTIONS.map((address) => ({ address, managed: true })) });
/** The longest wait before a kill: about one round of the loop on a quiet machine. */
const MAX_KILL_DELAY_MS = 400;

/** One round of the loop; each call may fail (a GPU still held after a kill, a call cut by the kill). */
const ROUND: [string, string, unknown[]][] = [
  ['Prepare', 'ss', ['win10', VM_XML]],
  ['Release', 'ss', ['win10', VM_XML]],
  ['Detach', 's', [GPU]],
  ['Attach', 's', [GPU]],
];

describe('the simulated host survives any crash of the daemon', function () {
  this.timeout(600_000);
  let dut: DaemonUnderTest;
  before(async () => {
    dut = await DaemonUnderTest.start();
  });
  after(() => dut?.dispose());

  it(`${KILLS} SIGKILLs at random moments of prepare, release, detach and attach leave the tree and the model agreeing`, async () => {
    const undoLog = new SimPaths(dut.root).undoLog;
    let inFlight = 0;
    let rounds = 0;
    const succeeded = new Map<string, number>();
    for (let kill = 1; kill <= KILLS; kill++) {
      if (dut.pid === undefined) await dut.startDaemon();
      let stop = false;
      const loop = (async () => {
        for (let i = 0; !stop; i = (i + 1) % ROUND.length) {
          const [member, signature, body] = ROUND[i];
          const ok = await dut.call(member, signature, body).then(() => true, () => false);
          if (ok) succeeded.set(member, (succeeded.get(member) ?? 0) + 1);
          if (i === ROUND.length - 1) rounds++;
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, Math.random() * MAX_KILL_DELAY_MS));
      await dut.kill();
      stop = true;
      await loop;
      if (fs.existsSync(undoLog)) inFlight++;
      assert.deepEqual(simHostDisagreements(dut.root), [], `after kill ${kill} the simulated host's tree and model disagree (log: ${path.basename(dut.logFile)})`);
      assert.equal(fs.existsSync(undoLog), false, `kill ${kill}: the undo log was rolled back`);
    }
    // The loop did move the GPU each way, and some kills cut a kernel operation, or the test proved nothing.
    for (const [member] of ROUND) assert.ok((succeeded.get(member) ?? 0) > 0, `no ${member} succeeded in ${rounds} rounds`);
    assert.ok(inFlight > 0, `none of ${KILLS} kills landed inside a kernel operation (${rounds} rounds ran)`);
    console.log(`      ${inFlight} of ${KILLS} kills cut a kernel operation; ${rounds} rounds; succeeded: ${JSON.stringify(Object.fromEntries(succeeded))}`);
  });
});
