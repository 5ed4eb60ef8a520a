// The daemon after an attach whose unbind from vfio-pci timed out because a VM opened the group just
// after the engine looked: the kernel (and the simulator) then block every read of that function's
// driver_override until the VM lets go, so a daemon that read it would stop answering on the bus.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GPU_IFACE, gpuObjectPath } from '../../../src/dbus/contract';
import { clearFaults, faultCounts, holdGroup, injectFault, releaseGroup } from '../../../src/sim/faults';
import { waitFor } from '../../support/processes';
import { DaemonUnderTest, callError, printDaemonLogOnFailure } from './daemon-under-test';

const RTX = '0000:01:00.0';
const RTX_AUDIO = '0000:01:00.1';
const RTX_PATH = gpuObjectPath(RTX);
const GROUP = 16;
const HOST_DRIVERS = { '0000:01:00.0': 'nvidia', '0000:01:00.1': 'snd_hda_intel' };

describe('gpu-hookd with a function left to the kernel (real daemon, simulated two-GPU host)', function () {
  // Below the simulator's give-up on a blocked read: a daemon frozen on one fails here, not later.
  this.timeout(30_000);
  let dut: DaemonUnderTest | undefined;

  afterEach(async () => {
    if (dut) {
      releaseGroup(dut.root, GROUP);
      clearFaults(dut.root);
    }
    await dut?.dispose();
    dut = undefined;
  });
  printDaemonLogOnFailure(() => dut);

  it('keeps answering while the VM holds the group, shows Mode failed with the sentence, and the Attach after the VM is gone gives the drivers back', async () => {
    dut = await DaemonUnderTest.start({ scenario: 'two-gpu', config: { timeouts: { unbindMs: 3000 } } });
    const d = dut;
    await d.call('Detach', 's', [RTX]);

    // The GPU's first write (clearing driver_override) is slow; the VM opens the group meanwhile, after the
    // engine's look for holders. The audio function leaves vfio-pci beside the GPU's run: the VM comes
    // once it has, so that only the GPU's unbind waits for the VM.
    const slow = injectFault(d.root, { path: `sys/bus/pci/devices/${RTX}/driver_override`, effect: { kind: 'block', ms: 1500 }, times: 1 });
    const attach = callError(d.call('Attach', 's', [RTX]));
    await waitFor('the slow driver_override write', () => faultCounts(d.root).find((c) => c.id === slow)?.fired === 1, { intervalMs: 5 });
    const audioDriver = path.join(d.root, `sys/bus/pci/devices/${RTX_AUDIO}/driver`);
    await waitFor(`${RTX_AUDIO} unbound from vfio-pci`, () => !fs.existsSync(audioDriver), { intervalMs: 5 });
    holdGroup(d.root, GROUP);

    const err = await attach;
    assert.equal(err.name, 'org.gpuhookd1.Error.Timeout');
    assert.match(err.text, new RegExp(`^attach of ${RTX} failed at 'unbind ${RTX} from vfio-pci': .*gpu-hookd left ${RTX} alone and undid the rest: .*gpu-hookctl attach ${RTX} again`));

    const props = await d.properties(RTX_PATH, GPU_IFACE);
    assert.equal(props.Mode, 'failed');
    assert.equal(props.LastError, err.text);

    // Still held: refused before any read of the function, and still failed.
    const refused = await callError(d.call('Attach', 's', [RTX]));
    assert.equal(refused.name, 'org.gpuhookd1.Error.Busy');
    assert.match(refused.text, new RegExp(`the kernel is still unbinding ${RTX} from vfio-pci`));
    const stillHeld = await d.properties(RTX_PATH, GPU_IFACE);
    assert.deepEqual([stillHeld.Mode, stillHeld.LastError], ['failed', refused.text]);

    releaseGroup(d.root, GROUP);
    await d.call('Attach', 's', [RTX]);
    const back = await d.properties(RTX_PATH, GPU_IFACE);
    assert.deepEqual([back.Mode, back.LastError, back.Drivers], ['host', '', HOST_DRIVERS]);
  });
});
