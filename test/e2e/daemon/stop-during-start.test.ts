// systemd may send SIGTERM while gpu-hookd is still starting, here while it undoes a transition a
// crash left journaled. The daemon finishes the start (the host is brought back, the name is owned,
// READY=1), then stops as on any SIGTERM (STOPPING=1, exit 0): nothing is left half done.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { journalDir } from '../../../src/engine/journal';
import { faultCounts, injectFault } from '../../../src/sim/faults';
import { waitFor } from '../../support/processes';
import { DaemonUnderTest, callError, printDaemonLogOnFailure } from './daemon-under-test';
import { NotifyReceiver } from './notify-receiver';

const RTX = '0000:01:00.0';

describe('gpu-hookd asked to stop while it starts', function () {
  this.timeout(60_000);
  let dut: DaemonUnderTest;
  let notify: NotifyReceiver | undefined;

  beforeEach(async () => {
    dut = await DaemonUnderTest.start();
  });
  printDaemonLogOnFailure(() => dut);
  afterEach(async () => {
    notify?.close();
    await dut?.dispose();
  });

  const journals = (): string[] => (fs.existsSync(journalDir(dut.stateDir)) ? fs.readdirSync(journalDir(dut.stateDir)) : []);

  it('SIGTERM during the start\'s recovery: the recovery and the start finish, then STOPPING=1 and exit status 0', async () => {
    // One round trip first: the firmware framebuffer does not come back once the boot GPU has moved.
    await dut.call('Detach', 's', [RTX]);
    await dut.call('Attach', 's', [RTX]);
    const before = dut.snapshot();

    // A crash mid-Detach leaves a journaled transition for the next start to undo.
    const midPlan = injectFault(dut.root, { path: 'sys/bus/pci/drivers_probe', value: '0000:01:00.2', effect: { kind: 'block' }, times: 1 });
    const detach = callError(dut.call('Detach', 's', [RTX]));
    await waitFor('the Detach to reach the blocked probe', () => faultCounts(dut.root).find((f) => f.id === midPlan)?.fired === 1);
    await dut.kill();
    await detach;
    assert.equal(journals().length, 1, 'the interrupted transition is journaled');

    // The first write of the recovery takes a while: the SIGTERM lands inside the start.
    const recoveryWrite = injectFault(dut.root, { path: 'sys/bus/pci/**', effect: { kind: 'block', ms: 3000 }, times: 1 });
    const socket = path.join(dut.workDir, 'notify.sock');
    notify = await NotifyReceiver.listen(socket);
    const earlierLines = dut.logEvents().length;
    await dut.startDaemon({ NOTIFY_SOCKET: socket }, false);
    await waitFor('the recovery to reach its blocked write', () => faultCounts(dut.root).find((f) => f.id === recoveryWrite)?.fired === 1);
    dut.signal('SIGTERM');

    assert.deepEqual(await dut.exited(), { code: 0, signal: null });
    const events = dut.logEvents().slice(earlierLines);
    const order = events.map((e) => e.event).filter((e) => e === 'signal' || e === 'recovered' || e === 'ready' || e === 'stopping');
    assert.deepEqual(order, ['signal', 'recovered', 'ready', 'stopping']);
    assert.equal(events.find((e) => e.event === 'signal')?.starting, true);
    assert.deepEqual(notify.lines().filter((l) => l === 'READY=1' || l === 'STOPPING=1'), ['READY=1', 'STOPPING=1']);
    assert.deepEqual(journals(), [], 'the recovery finished');
    assert.deepEqual(dut.snapshot(), before, 'the host is as before the interrupted transition');
    assert.equal(await dut.nameHasOwner(), false, 'org.gpuhookd1 is free again');
  });
});
