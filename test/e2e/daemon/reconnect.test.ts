// libvirtd's "reconnect" after the daemon lost what it knew: a running VM that names a GPU on vfio-pci
// with no holder on record gets it claimed again, so its release gives the host its GPU back.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gpuObjectPath, GPU_IFACE } from '../../../src/dbus/contract';
import { buildTestDomainXml } from '../../support/safe-domain';
import { DaemonUnderTest, useDaemonUnderTest } from './daemon-under-test';

const RTX = '0000:01:00.0';
const FUNCTIONS = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const vmXml = (name: string): string => buildTestDomainXml({ name, hostdevs: FUNCTIONS.map((address) => ({ address, managed: true })) });

describe('gpu-hookd and libvirt reconnect after the daemon lost its claims', function () {
  this.timeout(60_000);
  let dut: DaemonUnderTest;

  useDaemonUnderTest((started) => (dut = started));

  it('Reconnect claims the GPU on vfio-pci for the running VM, and its Release gives the host drivers back', async () => {
    const atBoot = dut.snapshot();
    await dut.call('Prepare', 'ss', ['win10', vmXml('win10')]);
    await dut.kill();
    // The claim is lost (the record edited by hand, or written by a version that kept claims apart);
    // the host state in the record stays, as the engine needs it.
    const file = path.join(dut.stateDir, 'gpus', `${RTX}.json`);
    fs.writeFileSync(file, `${JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), owner: '' })}\n`);
    await dut.startDaemon();
    assert.equal((await dut.properties(gpuObjectPath(RTX), GPU_IFACE)).Owner, '', 'no holder on record after the restart');

    assert.deepEqual(await dut.call('Reconnect', 'ss', ['win10', vmXml('win10')]), []);
    const gpu = await dut.properties(gpuObjectPath(RTX), GPU_IFACE);
    assert.equal(gpu.Owner, 'win10');
    assert.equal(gpu.Mode, 'vfio');

    await dut.call('Release', 'ss', ['win10', vmXml('win10')]);
    const after = dut.snapshot();
    assert.deepEqual(after.pciDevices, atBoot.pciDevices, "every function back on its host driver");
    assert.deepEqual(after.vtconsoles, atBoot.vtconsoles, "the console back");
    assert.equal((await dut.properties(gpuObjectPath(RTX), GPU_IFACE)).Mode, 'host');
  });
});
