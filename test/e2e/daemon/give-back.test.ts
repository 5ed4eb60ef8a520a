// A GPU that does not come back, as a person meets it over the real daemon: gpu-hookctl attach fails
// with the one sentence (exit 1), status shows it failed with that sentence, and once the card is
// power-cycled gpu-hookctl attach gives it back.

import assert from 'node:assert/strict';
import { unwedgeFunction, wedgeFunction } from '../../../src/sim/faults';
import { runCommand, type CommandResult } from '../../support/processes';
import { DaemonUnderTest, HOOKCTL_ENTRY, useDaemonUnderTest } from './daemon-under-test';

const RTX = '0000:01:00.0';

describe('gpu-hookctl and a GPU that does not come back', function () {
  this.timeout(60_000);
  let dut: DaemonUnderTest;
  useDaemonUnderTest((started) => (dut = started), { config: { timeouts: { probeMs: 2000 }, giveBack: { resets: 1 } } });

  function hookctl(...args: string[]): Promise<CommandResult> {
    return runCommand(process.execPath, [HOOKCTL_ENTRY, ...args], { env: { PATH: process.env.PATH, GPU_HOOKD_BUS: dut.bus.address } });
  }

  it('attach prints the reset it tried and the sentence, status says failed; after a power cycle attach brings it back', async () => {
    assert.equal((await hookctl('detach', RTX)).code, 0);
    wedgeFunction(dut.sim.root, RTX, 'forever');
    const failed = await hookctl('attach', RTX);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /^ +\S+ m?s {2}reset 0000:01:00\.0 \(pm\)$/m);
    assert.match(
      failed.stderr,
      /attach of 0000:01:00\.0 failed: 0000:01:00\.0 did not come back to nouveau .* and one reset was tried \(reset 0000:01:00\.0 \(pm\)\); it stays on vfio-pci, .* then run gpu-hookctl attach 0000:01:00\.0/,
    );
    const status = JSON.parse((await hookctl('status', '--json')).stdout) as { gpus: { address: string; mode: string; lastError: string }[] };
    assert.deepEqual(status.gpus.map((g) => [g.address, g.mode]), [[RTX, 'failed']]);
    assert.match(status.gpus[0].lastError, /did not come back to nouveau/);

    unwedgeFunction(dut.sim.root, RTX);
    const back = await hookctl('attach', RTX);
    assert.equal(back.code, 0, back.stderr);
    const after = JSON.parse((await hookctl('status', '--json')).stdout) as { gpus: { mode: string; lastError: string }[] };
    assert.deepEqual([after.gpus[0].mode, after.gpus[0].lastError], ['host', '']);
  });
});
