// The simulated host outlives any crash of the daemon: the daemon runs a loop of Prepare, Release,
// Detach and Attach and is killed (SIGKILL) at a random moment of one of them, 200 times; after each kill the
// simulated host's tree and its emulator's model agree (src/sim/consistency.ts), and the restarted
// daemon goes on from there. Kills that land inside a kernel operation leave an undo log, which the
// next opener of the host rolls back (src/sim/undo-log.ts). The test counts the kills that left a
// transition's journal, to show that it did cut transitions, not only the gaps between them.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { journalDir } from '../../../src/engine/journal';
import { simHostDisagreements } from '../../../src/sim/consistency';
import { SimPaths } from '../../../src/sim/sim-state';
import { buildTestDomainXml } from '../../support/safe-domain';
import { DaemonUnderTest } from './daemon-under-test';

const KILLS = 200;
const GPU = '0000:01:00.0';
const FUNCTIONS = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const VM_XML = buildTestDomainXml({ name: 'win10', hostdevs: FUNCTIONS.map((address) => ({ address, managed: true })) });

/** The loop's calls, in order; any may fail (a GPU still held after a kill, a call cut by the kill). */
const LOOP: [string, string, unknown[]][] = [
  ['Prepare', 'ss', ['win10', VM_XML]],
  ['Release', 'ss', ['win10', VM_XML]],
  ['Detach', 's', [GPU]],
  ['Attach', 's', [GPU]],
];

/** How long each call took when it ran whole, so that a kill can be aimed anywhere inside one. */
class CallTimes {
  private readonly times = new Map<string, number[]>();
  add(member: string, ms: number): void {
    this.times.set(member, [...(this.times.get(member) ?? []), ms].slice(-20));
  }
  /** The longest recent time of a whole call, or a guess before there is one. */
  longest(member: string): number {
    return Math.max(300, ...(this.times.get(member) ?? []));
  }
  succeeded(member: string): number {
    return this.times.get(member)?.length ?? 0;
  }
}

describe('the simulated host survives any crash of the daemon', function () {
  this.timeout(600_000);
  let dut: DaemonUnderTest;
  before(async () => {
    dut = await DaemonUnderTest.start();
  });
  after(() => dut?.dispose());

  it(`${KILLS} SIGKILLs at random moments of prepare, release, detach and attach leave the tree and the model agreeing`, async () => {
    const undoLog = new SimPaths(dut.root).undoLog;
    const times = new CallTimes();
    let inFlight = 0;
    let midTransition = 0;
    for (let kill = 1; kill <= KILLS; kill++) {
      if (dut.pid === undefined) await dut.startDaemon();
      // From a random place in the loop, none or one call runs whole, then one is killed at a random moment of it.
      const first = Math.floor(Math.random() * LOOP.length);
      const whole = Math.floor(Math.random() * 2);
      for (let n = 0; ; n++) {
        const [member, signature, body] = LOOP[(first + n) % LOOP.length];
        const started = Date.now();
        const call = dut.call(member, signature, body).then(() => true, () => false);
        if (n === whole) {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * times.longest(member)));
          await dut.kill();
          await call;
          break;
        }
        if (await call) times.add(member, Date.now() - started);
      }
      if (fs.existsSync(undoLog)) inFlight++;
      if (fs.existsSync(journalDir(dut.stateDir)) && fs.readdirSync(journalDir(dut.stateDir)).length > 0) midTransition++;
      assert.deepEqual(simHostDisagreements(dut.root), [], `after kill ${kill} the simulated host's tree and model disagree (daemon log: ${dut.logFile})`);
      assert.equal(fs.existsSync(undoLog), false, `kill ${kill}: the undo log was rolled back`);
    }
    // The loop did move the GPU each way, and kills did cut transitions, or the test proved nothing.
    for (const [member] of LOOP) assert.ok(times.succeeded(member) > 0, `no ${member} ran whole between the kills`);
    assert.ok(midTransition >= KILLS / 10, `only ${midTransition} of ${KILLS} kills landed inside a transition`);
    console.log(`      ${midTransition} of ${KILLS} kills cut a transition, ${inFlight} a kernel operation in the simulator`);
  });
});
