// The daemon's life around a transition: killed outright in the middle of one (the journal brings
// the host back at the next start) and asked to stop in the middle of one (it finishes the
// transition, refuses new ones, and exits 0). A blocking fault in the simulated kernel holds the
// transition mid-plan, in the daemon's own process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, gpuObjectPath } from '../../../src/dbus/contract';
import { journalDir } from '../../../src/engine/journal';
import { faultCounts, injectFault } from '../../../src/sim/faults';
import { waitFor } from '../../support/processes';
import { buildTestDomainXml } from '../../support/safe-domain';
import { DaemonUnderTest, callError, printDaemonLogOnFailure } from './daemon-under-test';

const RTX = '0000:01:00.0';
const RTX_PATH = gpuObjectPath(RTX);
const RTX_FUNCTIONS = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const WIN10 = buildTestDomainXml({ name: 'win10', hostdevs: RTX_FUNCTIONS.map((address) => ({ address, managed: true })) });
/** The probe that moves the third function: by then two functions are on vfio-pci and two are not. */
const THIRD_PROBE = { path: 'sys/bus/pci/drivers_probe', value: '0000:01:00.2' };

describe('gpu-hookd killed or stopped in the middle of a transition', function () {
  this.timeout(60_000);
  let dut: DaemonUnderTest;

  beforeEach(async () => {
    dut = await DaemonUnderTest.start();
    // The firmware framebuffer does not come back once the boot GPU has moved (as on a real kernel):
    // one round trip first, so that "as before" below is exact.
    await dut.call('Detach', 's', [RTX]);
    await dut.call('Attach', 's', [RTX]);
  });
  printDaemonLogOnFailure(() => dut);
  afterEach(async () => {
    await dut?.dispose();
  });

  const drivers = (): (string | undefined)[] => RTX_FUNCTIONS.map((f) => dut.sim.io.readLinkName(`sys/bus/pci/devices/${f}/driver`));
  const journals = (): string[] => (fs.existsSync(journalDir(dut.stateDir)) ? fs.readdirSync(journalDir(dut.stateDir)) : []);

  /** Injects a fault on the third function's probe and waits until the daemon's write is stuck in it. */
  async function stuckAtThirdProbe(effect: { kind: 'block'; ms?: number }): Promise<void> {
    const id = injectFault(dut.root, { ...THIRD_PROBE, effect, times: 1 });
    await waitFor('the daemon to reach the blocked probe', () => faultCounts(dut.root).find((f) => f.id === id)?.fired === 1, { timeoutMs: 10_000 });
  }

  it('SIGKILL mid-Prepare, then a restart: the journal is undone and the host is exactly as before the transition', async () => {
    const before = dut.snapshot();
    const prepare = callError(dut.call('Prepare', 'ss', ['win10', WIN10]));
    await stuckAtThirdProbe({ kind: 'block' });
    // The functions' runs go side by side: the others moved while the third one's probe is stuck.
    assert.deepEqual(drivers(), ['vfio-pci', 'vfio-pci', undefined, 'vfio-pci'], 'mid-plan');
    assert.equal(journals().length, 1, 'the transition is journaled');

    await dut.kill();
    // The bus answers the pending call itself once the daemon is gone.
    assert.equal((await prepare).name, 'org.freedesktop.DBus.Error.NoReply');
    assert.notDeepEqual(dut.snapshot(), before);

    await dut.startDaemon();
    assert.deepEqual(dut.snapshot(), before);
    assert.deepEqual(journals(), []);
    const recovered = dut.logEvents().find((e) => e.event === 'recovered');
    assert.ok(recovered, 'the restart logs what it recovered');
    const gpu = await dut.properties(RTX_PATH, GPU_IFACE);
    assert.deepEqual([gpu.Mode, gpu.Owner, gpu.LastError], ['host', '', '']);
    assert.equal((await dut.properties(MANAGER_PATH, MANAGER_IFACE)).Status, 'idle: 1 GPU on host drivers');
    // The claim died with the undone move: another VM may take the GPU now.
    await dut.call('Prepare', 'ss', ['linux', buildTestDomainXml({ name: 'linux', hostdevs: [{ address: RTX }] })]);
    assert.equal((await dut.properties(RTX_PATH, GPU_IFACE)).Owner, 'linux');
    await dut.call('Release', 'ss', ['linux', '']);
  });

  it('SIGTERM mid-Detach: the transition finishes, new calls are refused as stopping, STOPPING is logged, exit status 0', async () => {
    const detach = dut.call('Detach', 's', [RTX]);
    await stuckAtThirdProbe({ kind: 'block', ms: 1500 });
    dut.signal('SIGTERM');
    await dut.waitForLog('that it is stopping', (e) => e.event === 'stopping');

    const refused = await callError(dut.call('Attach', 's', [RTX]));
    assert.equal(refused.name, 'org.gpuhookd1.Error.Busy');
    assert.match(refused.text, /stopping/);

    assert.deepEqual(await detach, []);
    assert.deepEqual(await dut.exited(), { code: 0, signal: null });
    assert.deepEqual(drivers(), RTX_FUNCTIONS.map(() => 'vfio-pci'), 'the step in flight and the rest of the plan finished');
    assert.deepEqual(journals(), [], 'nothing left to recover');
  });
});
