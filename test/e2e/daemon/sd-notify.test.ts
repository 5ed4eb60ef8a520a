// What systemd hears from the daemon process on a real NOTIFY_SOCKET: READY=1 once the bus name is
// owned, STATUS= as GPUs move (the line `systemctl status gpu-hookd` shows), WATCHDOG=1 when
// WATCHDOG_USEC asks for it, STOPPING=1 on SIGTERM, every datagram from the daemon's own PID.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { DaemonUnderTest, printDaemonLogOnFailure } from './daemon-under-test';
import { NotifyReceiver } from './notify-receiver';

const RTX = '0000:01:00.0';

describe('gpu-hookd and systemd\'s notify socket (real datagram socket)', function () {
  this.timeout(30_000);
  let dut: DaemonUnderTest;
  let notify: NotifyReceiver;
  let ownedAtReady: boolean | undefined;

  before(async () => {
    // The daemon under test is restarted with NOTIFY_SOCKET: the first start only builds host and bus.
    dut = await DaemonUnderTest.start();
    await dut.terminate();
    notify = await NotifyReceiver.listen(path.join(dut.workDir, 'notify.sock'));
    await dut.startDaemon({ NOTIFY_SOCKET: path.join(dut.workDir, 'notify.sock'), WATCHDOG_USEC: '200000' }, false);
    await notify.waitForLine('READY=1', (l) => l === 'READY=1');
    ownedAtReady = await dut.nameHasOwner();
  });
  after(async () => {
    notify?.close();
    await dut?.dispose();
  });
  printDaemonLogOnFailure(() => dut);

  it('READY=1 comes once org.gpuhookd1 is owned, and it is the first thing said', () => {
    assert.equal(ownedAtReady, true);
    assert.equal(notify.lines()[0], 'READY=1');
  });

  it('STATUS= tells where the GPUs are, before and after a move', async () => {
    await notify.waitForLine('the idle status', (l) => l === 'STATUS=idle: 1 GPU on host drivers');
    await dut.call('Detach', 's', [RTX]);
    await notify.waitForLine('the detached status', (l) => l === `STATUS=${RTX} on vfio-pci (detached by hand)`);
    await dut.call('Attach', 's', [RTX]);
    const statuses = notify.lines().filter((l) => l.startsWith('STATUS='));
    const distinct = statuses.filter((s, i) => s !== statuses[i - 1]);
    assert.deepEqual(distinct, [
      'STATUS=idle: 1 GPU on host drivers',
      `STATUS=${RTX} detaching`,
      `STATUS=${RTX} on vfio-pci (detached by hand)`,
      `STATUS=${RTX} attaching`,
      'STATUS=idle: 1 GPU on host drivers',
    ]);
  });

  it('WATCHDOG=1 keeps coming while WATCHDOG_USEC is set', async () => {
    const count = (): number => notify.lines().filter((l) => l === 'WATCHDOG=1').length;
    const seen = count();
    await notify.waitForLine('more watchdog pings', () => count() >= seen + 2);
  });

  it('SIGTERM: STOPPING=1, then exit status 0; every datagram came from the daemon\'s own PID', async () => {
    const pid = dut.pid;
    assert.deepEqual(await dut.terminate(), { code: 0, signal: null });
    await notify.waitForLine('STOPPING=1', (l) => l === 'STOPPING=1');
    assert.deepEqual(
      [...new Set(notify.datagrams.map((d) => d.pid))],
      [pid],
      'NotifyAccess=main: systemd only listens to the main PID',
    );
    const lines = notify.lines();
    assert.ok(lines.indexOf('STOPPING=1') > lines.lastIndexOf('STATUS=idle: 1 GPU on host drivers'));
  });
});
