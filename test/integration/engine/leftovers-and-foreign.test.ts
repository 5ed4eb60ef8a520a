// Hosts as other tools leave them, and groups that hold more than the card, on the simulated kernel:
// a function already on vfio-pci (by driver_override, by vfio-pci ids= at boot, by new_id), unbound,
// or with a driver_override of vfio-pci left set is recorded with no host driver and given back to
// the driver the kernel chooses, with a sentence; a NIC or a disk in the GPU's group or slot is
// never taken unless the domain names it, and the refusal names the interface or the disk.

import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/engine-error';
import type { TransitionReport } from '../../../src/engine/transition-engine';
import { snapshotHost, type HostSnapshot } from '../../../src/sim/snapshot';
import { assertHostRestored, simEngine, type SimEngine } from './sim-engine';

const RTX = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const bindings = (s: HostSnapshot, addresses: string[]): { driver: string | null; override: string | null }[] => addresses.map((a) => s.pciDevices[a]);
const notes = (r: TransitionReport): string[] => r.steps.flatMap((s) => (s.note ? [s.note] : []));

describe("another tool's leftovers", () => {
  let sim: SimEngine;
  afterEach(() => sim?.dispose());

  it('on vfio-pci by driver_override, unbound, an override left set: none is recorded as on vfio-pci; each goes where the kernel chooses', async () => {
    sim = await simEngine('leftovers');
    await sim.engine.detach(RTX[0], { owner: 'win10' });
    assert.deepEqual(bindings(snapshotHost(sim.host.io), RTX), RTX.map(() => ({ driver: 'vfio-pci', override: 'vfio-pci' })));
    const record = sim.engine.ledger.load(RTX[0]);
    assert.deepEqual(
      record?.functions.map((f) => [f.driver, f.driverOverride, f.leftover ?? null]),
      [
        ['nouveau', null, null],
        [null, null, { driver: 'vfio-pci', driverOverride: 'vfio-pci' }],
        [null, null, { driver: null, driverOverride: null }],
        ['nvidia-gpu', null, { driver: 'nvidia-gpu', driverOverride: 'vfio-pci' }],
      ],
    );

    const attached = await sim.engine.attach(RTX[0]);
    assert.deepEqual(
      bindings(snapshotHost(sim.host.io), RTX),
      ['nouveau', 'snd_hda_intel', 'xhci_hcd', 'nvidia-gpu'].map((driver) => ({ driver, override: null })),
    );
    assert.deepEqual(notes(attached), [
      '0000:01:00.1 was on vfio-pci by driver_override when gpu-hookd took it; given back to the kernel, which chose snd_hda_intel for it',
      '0000:01:00.2 was unbound when gpu-hookd took it; given back to the kernel, which chose xhci_hcd for it',
    ]);
  });

  it('on vfio-pci by vfio-pci.ids= at boot: vfio-pci takes them again, and the sentence says why and what to change', async () => {
    sim = await simEngine('vfio-ids');
    const before = snapshotHost(sim.host.io);
    const detached = await sim.engine.detach(RTX[0], { owner: 'win10' });
    assert.ok(!detached.steps.some((s) => s.device === RTX[0] || s.device === RTX[1]), 'what is on vfio-pci already is left alone');
    assert.deepEqual(sim.engine.ledger.load(RTX[0])?.functions.map((f) => f.driver), [null, null, 'xhci_hcd', 'nvidia-gpu']);
    const attached = await sim.engine.attach(RTX[0]);
    assertHostRestored(snapshotHost(sim.host.io), before);
    const said = notes(attached);
    assert.equal(said.length, 2);
    assert.equal(
      said[0],
      '0000:01:00.0 was on vfio-pci by its ids (vfio-pci ids= or new_id) when gpu-hookd took it; given back to the kernel, vfio-pci took it again ' +
        "because its ids 10de:1f08 are in vfio-pci's table (vfio-pci.ids= on the kernel command line); remove them there, " +
        'or echo "10de 1f08" > /sys/bus/pci/drivers/vfio-pci/remove_id, for the host\'s driver to get it',
    );
  });

  it('an attach by hand of a GPU gpu-hookd never moved gives what ids= holds to the kernel too, and says so', async () => {
    sim = await simEngine('vfio-ids');
    const attached = await sim.engine.attach(RTX[0]);
    assert.deepEqual(bindings(snapshotHost(sim.host.io), RTX.slice(0, 2)), [{ driver: 'vfio-pci', override: null }, { driver: 'vfio-pci', override: null }]);
    assert.match(notes(attached)[0], /^0000:01:00\.0 was on vfio-pci by its ids .*vfio-pci took it again because its ids 10de:1f08/);
  });

  it('on vfio-pci by new_id: the kernel gives it back to the host driver registered before vfio-pci', async () => {
    sim = await simEngine('seed');
    const io = sim.host.io;
    await io.write('sys/bus/pci/drivers/snd_hda_intel/unbind', RTX[1]);
    await io.write('sys/bus/pci/drivers/vfio-pci/new_id', '10de 10f9');
    assert.deepEqual(snapshotHost(io).pciDevices[RTX[1]], { driver: 'vfio-pci', override: null });
    await sim.engine.detach(RTX[0], { owner: 'win10' });
    const attached = await sim.engine.attach(RTX[0]);
    assert.deepEqual(snapshotHost(io).pciDevices[RTX[1]], { driver: 'snd_hda_intel', override: null });
    assert.deepEqual(notes(attached), [
      '0000:01:00.1 was on vfio-pci by its ids (vfio-pci ids= or new_id) when gpu-hookd took it; given back to the kernel, which chose snd_hda_intel for it',
    ]);
  });

  it('a function no registered driver matches stays unbound, and the sentence says so', async () => {
    sim = await simEngine('leftovers');
    await sim.engine.detach(RTX[0], { owner: 'win10' });
    // The USB controllers' driver goes away while the VM runs.
    await sim.host.io.write('sys/bus/pci/drivers/xhci_hcd/unbind', '0000:00:14.0');
    await sim.host.io.unloadModule('xhci_pci');
    const attached = await sim.engine.attach(RTX[0]);
    assert.equal(snapshotHost(sim.host.io).pciDevices[RTX[2]].driver, null);
    assert.ok(notes(attached).includes("0000:01:00.2 was unbound when gpu-hookd took it; given back to the kernel, no driver took it, so it stays unbound (load its driver's module to give it one)"));
  });
});

describe('devices that are not the card', () => {
  let sim: SimEngine;
  afterEach(() => sim?.dispose());

  const refusal = async (gpu: string, opts: Parameters<SimEngine['engine']['detach']>[1]): Promise<EngineError> => {
    const before = snapshotHost(sim.host.io);
    const e = await sim.engine.detach(gpu, opts).catch((err: unknown) => err as EngineError);
    assert.ok(e instanceof EngineError, 'refused');
    assert.equal(e.code, 'NotViable');
    assert.deepEqual(snapshotHost(sim.host.io), before, 'the host is unchanged');
    return e;
  };

  it('a NIC in the group: a VM is refused naming its interface, with advice it can follow', async () => {
    sim = await simEngine('shared-group');
    const e = await refusal('0000:01:00.0', { owner: 'win10' });
    assert.match(e.message, /0000:02:00\.0 \(Intel Corporation I211 Gigabit Network Connection on igb: interface enp2s0\) shares IOMMU group 1/);
    assert.match(e.message, /give the VM that device too \(virsh edit: a <hostdev mode='subsystem' type='pci'> for 0000:02:00\.0\)/);
  });

  it('a NIC in the group: the domain that names it gets the whole group, and gives it back', async () => {
    sim = await simEngine('shared-group');
    const before = snapshotHost(sim.host.io);
    await sim.engine.detach('0000:01:00.0', { owner: 'win10', named: ['0000:01:00.0', '0000:02:00.0'] });
    const during = snapshotHost(sim.host.io);
    for (const f of ['0000:01:00.0', '0000:01:00.1', '0000:02:00.0']) assert.equal(during.pciDevices[f].driver, 'vfio-pci', f);
    assert.ok(during.vfio.includes('1'));
    await sim.engine.attach('0000:01:00.0');
    assertHostRestored(snapshotHost(sim.host.io), before);
    assert.ok(sim.host.io.exists('sys/class/net/enp2s0'), 'the interface is back');
  });

  it('a NIC in the group: a detach by hand is refused, saying that only a domain naming it takes it', async () => {
    sim = await simEngine('shared-group');
    const e = await refusal('0000:01:00.0', {});
    assert.match(e.message, /interface enp2s0/);
    assert.match(e.message, /a detach by hand never takes another device from the host: start a VM whose domain names 0000:02:00\.0 as a <hostdev> too/);
  });

  it('an NVMe drive in the slot of the card is not the card: refused naming the disk; the domain that names it takes it', async () => {
    sim = await simEngine('nvme-in-slot');
    const e = await refusal('0000:0c:00.0', { owner: 'win10' });
    assert.match(e.message, /0000:0c:00\.2 \(.* on nvme: disk nvme1n1\) shares IOMMU group 18/);
    const before = snapshotHost(sim.host.io);
    await sim.engine.detach('0000:0c:00.0', { owner: 'win10', named: ['0000:0c:00.2'] });
    assert.equal(snapshotHost(sim.host.io).pciDevices['0000:0c:00.2'].driver, 'vfio-pci');
    await sim.engine.attach('0000:0c:00.0');
    // This host booted without vfio loaded: the modules the detach loaded stay (the engine never unloads vfio).
    assert.deepEqual(snapshotHost(sim.host.io).pciDevices, before.pciDevices);
  });

  it('a device of the group the host does not use (unbound) stays as it is: only the card moves', async () => {
    sim = await simEngine('nvme-in-slot');
    await sim.host.io.write('sys/bus/pci/drivers/nvme/unbind', '0000:0c:00.2');
    const before = snapshotHost(sim.host.io);
    const detached = await sim.engine.detach('0000:0c:00.0', { owner: 'win10' });
    assert.ok(!detached.steps.some((s) => s.device === '0000:0c:00.2'));
    assert.deepEqual(snapshotHost(sim.host.io).pciDevices['0000:0c:00.2'], { driver: null, override: null });
    assert.deepEqual(sim.engine.ledger.load('0000:0c:00.0')?.functions.map((f) => f.address), ['0000:0c:00.0', '0000:0c:00.1']);
    await sim.engine.attach('0000:0c:00.0');
    // This host booted without vfio loaded: the modules the detach loaded stay (the engine never unloads vfio).
    assert.deepEqual(snapshotHost(sim.host.io).pciDevices, before.pciDevices);
  });
});
