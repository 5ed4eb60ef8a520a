// What the daemon says about a host another tool has touched, and what a domain's Prepare does with a
// group that holds more than the card: the views gpu-hookctl status and the D-Bus Gpu objects show
// (mode, Leftovers, HostDrivers, the status line) and the Prepare/Release of the hook's phases.

import assert from 'node:assert/strict';
import pino from 'pino';
import { GpuService } from '../../../src/daemon/gpu-service';
import { snapshotHost } from '../../../src/sim/snapshot';
import { buildTestDomainXml } from '../../support/safe-domain';
import { simEngine, type SimEngine } from '../engine/sim-engine';

const RTX = '0000:01:00.0';

describe('the daemon on hosts other tools touched', () => {
  let sim: SimEngine;
  afterEach(() => sim?.dispose());

  async function service(scenario: string): Promise<GpuService> {
    sim = await simEngine(scenario);
    const s = new GpuService({ io: sim.host.io, engine: sim.engine, stateDir: sim.stateDir, log: pino({ level: 'silent' }) });
    await s.start();
    return s;
  }

  it('a card partly on vfio-pci is "mixed", never on host drivers; Leftovers says how each function stands', async () => {
    const s = await service('leftovers');
    const view = s.view(RTX);
    assert.equal(view.mode, 'mixed');
    assert.deepEqual(view.leftovers, {
      '0000:01:00.1': 'on vfio-pci by driver_override, not moved by gpu-hookd',
      '0000:01:00.3': 'on nvidia-gpu, driver_override vfio-pci, not moved by gpu-hookd',
    });
    assert.equal(s.status(), `${RTX} not all on host drivers: 0000:01:00.1 on vfio-pci by driver_override, not moved by gpu-hookd, 0000:01:00.3 on nvidia-gpu, driver_override vfio-pci, not moved by gpu-hookd`);
  });

  it('a VM takes it: no host driver is recorded as vfio-pci; its release gives each to the kernel\'s choice and the view says host', async () => {
    const s = await service('leftovers');
    const xml = buildTestDomainXml({ name: 'win10', hostdevs: [{ address: RTX }] });
    await s.prepare('win10', xml);
    const during = s.view(RTX);
    assert.equal(during.mode, 'vfio');
    assert.deepEqual(during.hostDrivers, { [RTX]: 'nouveau', '0000:01:00.1': '', '0000:01:00.2': '', '0000:01:00.3': 'nvidia-gpu' });
    assert.equal(during.leftovers['0000:01:00.1'], 'on vfio-pci by driver_override before gpu-hookd moved it');
    await s.release('win10', xml);
    const after = s.view(RTX);
    assert.equal(after.mode, 'host');
    assert.deepEqual(after.leftovers, {});
    assert.match(s.status(), /^idle: 2 GPUs on host drivers$/);
  });

  it('a card booted on vfio-pci by vfio-pci.ids= stays "mixed" after the VM: vfio-pci took it again, as the kernel chose', async () => {
    const s = await service('vfio-ids');
    assert.equal(s.view(RTX).mode, 'mixed');
    const xml = buildTestDomainXml({ name: 'win10', hostdevs: [{ address: RTX }] });
    await s.prepare('win10', xml);
    await s.release('win10', xml);
    assert.equal(s.view(RTX).mode, 'mixed');
    assert.match(s.view(RTX).leftovers[RTX], /^on vfio-pci by its ids/);
  });

  it("a domain's Prepare with the whole shared group takes the NIC too; one naming only the GPU is refused naming the interface", async () => {
    const s = await service('shared-group');
    const before = snapshotHost(sim.host.io);
    const gpuOnly = buildTestDomainXml({ name: 'gpu-only', hostdevs: [{ address: RTX }] });
    await assert.rejects(s.prepare('gpu-only', gpuOnly), (e: Error) => /interface enp2s0/.test(e.message) && /give the VM that device too/.test(e.message));
    assert.deepEqual(snapshotHost(sim.host.io), before);

    const whole = buildTestDomainXml({ name: 'whole', hostdevs: [{ address: RTX }, { address: '0000:02:00.0' }] });
    assert.deepEqual(await s.prepare('whole', whole), [RTX]);
    assert.equal(snapshotHost(sim.host.io).pciDevices['0000:02:00.0'].driver, 'vfio-pci');
    await s.release('whole', whole);
    assert.deepEqual(snapshotHost(sim.host.io).pciDevices, before.pciDevices);
  });
});
