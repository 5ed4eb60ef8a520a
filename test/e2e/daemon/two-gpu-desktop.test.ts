// The real daemon on the simulated iGPU + GeForce host (the desktop on the iGPU, the GeForce on
// nouveau with a framebuffer of its own), with the systemd and logind stand-ins: a VM's Prepare and
// Release of the GeForce leave the display manager, its processes, fbcon and the iGPU's nodes alone,
// and the host ends as it began.

import assert from 'node:assert/strict';
import { DM_UNIT } from '../../../src/sim/desktop/simulated-desktop';
import { buildTestDomainXml } from '../../support/safe-domain';
import { DaemonUnderTest, useDaemonUnderTest } from './daemon-under-test';

const GEFORCE = ['0000:01:00.0', '0000:01:00.1'];
const DM_PIDS = [812, 845];

describe('gpu-hookd on a two-GPU desktop (real daemon, simulated iGPU + GeForce host)', function () {
  this.timeout(30_000);
  let dut: DaemonUnderTest;
  useDaemonUnderTest((started) => (dut = started), { scenario: 'igpu-nouveau', desktop: { dmPids: DM_PIDS } });

  it('Prepare and Release of the GeForce never touch the iGPU\'s desktop, console or nodes', async () => {
    const desktop = dut.desktop;
    assert.ok(desktop);
    const before = dut.snapshot();
    const xml = buildTestDomainXml({ name: 'win11', hostdevs: GEFORCE.map((address) => ({ address, managed: true })) });

    assert.deepEqual(await dut.call('Prepare', 'ss', ['win11', xml]), [['0000:01:00.0']]);
    const during = dut.snapshot();
    assert.equal((await desktop.systemd.unit(DM_UNIT)).activeState, 'active');
    for (const pid of DM_PIDS) assert.equal(dut.sim.io.exists(`proc/${pid}/comm`), true, `display manager process ${pid} runs`);
    assert.deepEqual(during.fbconMap, before.fbconMap);
    assert.deepEqual(during.vtconsoles, before.vtconsoles);
    assert.deepEqual(during.dri, before.dri.filter((n) => n.device === '0000:00:02.0'));

    await dut.call('Release', 'ss', ['win11', xml]);
    assert.deepEqual(await desktop.systemd.calls('StopUnit'), []);
    assert.deepEqual(dut.snapshot(), before);
  });
});
