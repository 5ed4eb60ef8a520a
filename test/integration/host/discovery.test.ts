import assert from 'node:assert/strict';
import * as path from 'node:path';
import { discoverGpus, findGpuForAddress, listGpus, NoIommuGroupError, NoSuchPciDeviceError, NotAGpuError } from '../../../src/host/gpu-inventory';
import { SysfsHostIO } from '../../../src/host/host-io';
import { InvalidPciAddressError } from '../../../src/host/pci-address';
import { PciDeviceReader } from '../../../src/host/pci-discovery';
import { pciNamer, pciIdsPaths } from '../../../src/host/pci-ids';
import { readPreflightFacts } from '../../../src/host/preflight';
import { gpuViability } from '../../../src/host/viability';
import { makeTempRoot } from '../../support/temp-root';
import { seedLikeHost, writeFixtureHost, type FixtureHost } from './fixture-host';

describe('host discovery over a fixture tree', () => {
  let root: string;
  let cleanup: () => void;
  let io: SysfsHostIO;

  function build(host: FixtureHost): void {
    writeFixtureHost(root, host);
    io = new SysfsHostIO(root);
  }

  beforeEach(() => {
    ({ root, cleanup } = makeTempRoot('gpu-hookd-discovery-'));
  });
  afterEach(() => cleanup());

  it('reads every attribute of a device into PciDevice', () => {
    build(seedLikeHost());
    const vga = new PciDeviceReader(io).read('0000:01:00.0');
    assert.deepEqual(vga, {
      address: '0000:01:00.0',
      vendorId: '10de',
      deviceId: '1f08',
      subsystemVendorId: '1043',
      subsystemDeviceId: '86d2',
      classCode: '030000',
      headerType: 0,
      isBridge: false,
      driver: 'nouveau',
      driverModule: 'nouveau',
      driverOverride: null,
      bootVga: true,
      iommuGroup: '1',
      name: 'NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A] (ROG Strix RTX 2060)',
    });
  });

  it('tells bridges by header type without the multi-function bit, and a driver its module', () => {
    build(seedLikeHost());
    const reader = new PciDeviceReader(io);
    const bridge = reader.read('0000:00:01.0')!;
    assert.equal(bridge.headerType, 1);
    assert.equal(bridge.isBridge, true);
    assert.equal(bridge.driverModule, null, 'pcieport is built in: no module link');
    assert.equal(reader.read('0000:01:00.3')!.driverModule, 'i2c_nvidia_gpu');
    assert.equal(reader.read('0000:09:00.0'), undefined);
  });

  it('a long-lived map of driver modules spares the module link in later passes, and never holds a built-in driver', () => {
    build(seedLikeHost());
    const modules = new Map<string, string>();
    new PciDeviceReader(io, { driverModules: modules }).read('0000:01:00.3');
    new PciDeviceReader(io, { driverModules: modules }).read('0000:00:01.0');
    assert.deepEqual([...modules], [['nvidia-gpu', 'i2c_nvidia_gpu']]);
    const asked: string[] = [];
    const counting = new Proxy(io, {
      get: (target, prop, receiver) =>
        prop === 'readLinkName'
          ? (rel: string) => {
              asked.push(rel);
              return target.readLinkName(rel);
            }
          : Reflect.get(target, prop, receiver),
    });
    assert.equal(new PciDeviceReader(counting, { driverModules: modules }).read('0000:01:00.3')!.driverModule, 'i2c_nvidia_gpu');
    assert.ok(!asked.some((rel) => rel.endsWith('/module')), asked.join(', '));
  });

  it('falls back to the class for the header type when config space cannot be read', () => {
    const host = seedLikeHost();
    host.devices = host.devices.map((d) => ({ ...d, noConfig: true }));
    build(host);
    const reader = new PciDeviceReader(io);
    assert.equal(reader.read('0000:00:01.0')!.isBridge, true);
    assert.equal(reader.read('0000:01:00.0')!.isBridge, false);
  });

  it('takes the ids from config space, and from the attributes where config space does not hold them', () => {
    const host = seedLikeHost();
    host.devices = host.devices.map((d) => (d.address === '0000:01:00.1' ? { ...d, virtualFunction: true } : d));
    build(host);
    const reader = new PciDeviceReader(io);
    const gpu = reader.read('0000:01:00.0')!;
    assert.deepEqual([gpu.vendorId, gpu.deviceId, gpu.subsystemVendorId, gpu.subsystemDeviceId], ['10de', '1f08', '1043', '86d2']);
    const fromAttributes = reader.read('0000:01:00.1')!;
    const spec = host.devices.find((d) => d.address === '0000:01:00.1')!;
    assert.equal(`${fromAttributes.vendorId}:${fromAttributes.deviceId}`, spec.id, 'a virtual function reads ffff in config space');
    const bridge = reader.read('0000:00:01.0')!;
    assert.equal(bridge.isBridge, true);
    const bridgeSpec = host.devices.find((d) => d.address === '0000:00:01.0')!;
    assert.equal(`${bridge.subsystemVendorId}:${bridge.subsystemDeviceId}`, bridgeSpec.subsystem ?? '0000:0000', 'a bridge keeps its subsystem ids in a capability');
  });

  it('reads driver_override, "(null)" as null', () => {
    const host = seedLikeHost();
    host.devices[2] = { ...host.devices[2], override: 'vfio-pci', driver: undefined };
    build(host);
    const audio = new PciDeviceReader(io).read('0000:01:00.1')!;
    assert.equal(audio.driverOverride, 'vfio-pci');
    assert.equal(audio.driver, null);
    assert.equal(audio.driverModule, null);
  });

  it('finds the GPU with its whole group, display function first, bridges left out', () => {
    build(seedLikeHost());
    const { gpus, gpusWithoutGroup } = discoverGpus(io);
    assert.deepEqual(gpusWithoutGroup, []);
    assert.equal(gpus.length, 1);
    const [gpu] = gpus;
    assert.equal(gpu.address, '0000:01:00.0');
    assert.equal(gpu.bootVga, true);
    assert.equal(gpu.group.id, '1');
    assert.deepEqual(gpu.functions.map((f) => f.address), ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3']);
    assert.deepEqual(gpuViability(gpu), { viable: true });
    assert.deepEqual(listGpus(io), gpus);
  });

  it('reads group numbers from the tree, never from the address', () => {
    const host = seedLikeHost();
    host.devices = host.devices.map((d) => (d.group === '1' ? { ...d, group: '27' } : d));
    build(host);
    assert.equal(discoverGpus(io).gpus[0].group.id, '27');
  });

  it('a NIC in the GPU group makes it non-viable, naming the NIC and its driver', () => {
    const host = seedLikeHost();
    host.devices = host.devices.map((d) => (d.address === '0000:02:00.0' ? { ...d, group: '1' } : d));
    build(host);
    const [gpu] = discoverGpus(io).gpus;
    const v = gpuViability(gpu);
    assert.ok(!v.viable);
    assert.equal(v.culprit, '0000:02:00.0');
    assert.match(v.reason, /^\(Intel Corporation I211 Gigabit Network Connection on igb\) shares IOMMU group 1 with 0000:01:00\.0/);
  });

  it('findGpuForAddress: any function of the group leads to its GPU; short addresses are accepted', () => {
    build(seedLikeHost());
    assert.equal(findGpuForAddress(io, '0000:01:00.0').address, '0000:01:00.0');
    assert.equal(findGpuForAddress(io, '01:00.3').address, '0000:01:00.0');
  });

  it('findGpuForAddress refuses unknown, malformed and non-GPU addresses with one sentence', () => {
    build(seedLikeHost());
    assert.throws(() => findGpuForAddress(io, '0000:09:00.0'), (e: unknown) => {
      assert.ok(e instanceof NoSuchPciDeviceError);
      assert.match(e.message, /^no PCI device 0000:09:00\.0 on this host/);
      assert.equal(e.kind, 'NotFound');
      return true;
    });
    for (const bad of ['../../etc', '0000:01:00.0/../x', '01:00.0\0', '1:0.0', '']) {
      assert.throws(() => findGpuForAddress(io, bad), InvalidPciAddressError, bad);
    }
    assert.throws(() => findGpuForAddress(io, '0000:02:00.0'), (e: unknown) => {
      assert.ok(e instanceof NotAGpuError);
      assert.match(e.message, /^0000:02:00\.0 \(Intel Corporation I211 Gigabit Network Connection on igb\) is not a GPU/);
      return true;
    });
  });

  it('without an IOMMU lists GPUs as ungrouped and refuses to pick them', () => {
    const host = seedLikeHost();
    host.devices = host.devices.map((d) => ({ ...d, group: undefined }));
    build(host);
    const inventory = discoverGpus(io);
    assert.deepEqual(inventory.gpus, []);
    assert.deepEqual(inventory.gpusWithoutGroup.map((d) => d.address), ['0000:01:00.0']);
    assert.throws(() => findGpuForAddress(io, '0000:01:00.1'), NotAGpuError);
    assert.throws(() => findGpuForAddress(io, '0000:01:00.0'), (e: unknown) => e instanceof NoIommuGroupError && /enable VT-d/.test(e.message));
    assert.equal(readPreflightFacts(io).iommuGroupsPresent, false);
  });

  it('two GPUs in one group: each address leads to the GPU of its own card', () => {
    build({
      devices: [
        { address: '0000:01:00.0', id: '10de:1f08', classCode: '030000', driver: 'nouveau', group: '5' },
        { address: '0000:01:00.1', id: '10de:10f9', classCode: '040300', driver: 'snd_hda_intel', group: '5' },
        { address: '0000:02:00.0', id: '10de:1f08', classCode: '030000', driver: 'nouveau', group: '5' },
        { address: '0000:02:00.1', id: '10de:10f9', classCode: '040300', driver: 'snd_hda_intel', group: '5' },
      ],
    });
    assert.equal(findGpuForAddress(io, '0000:02:00.1').address, '0000:02:00.0');
    const { gpus } = discoverGpus(io);
    assert.deepEqual(gpus.map((g) => g.address), ['0000:01:00.0', '0000:02:00.0']);
    const v = gpuViability(gpus[1]);
    assert.ok(!v.viable);
    assert.equal(v.culprit, '0000:01:00.0');
  });

  it('reads preflight facts from the tree: groups, cmdline, vfio, CPU flag, module lists of its own kernel', () => {
    build({ ...seedLikeHost(), devVfio: true, builtinModules: ['vfio/vfio'], osRelease: '6.6.1-sim' });
    const facts = readPreflightFacts(io);
    assert.equal(facts.iommuGroupCount, 3);
    assert.equal(facts.kernelRelease, '6.6.1-sim');
    assert.deepEqual(facts.iommuCmdline, { intelIommuOn: true, amdIommu: null, iommuPassthrough: true });
    assert.equal(facts.devVfioPresent, true);
    assert.deepEqual(facts.vfioPci, { loaded: false, builtIn: false, loadable: true });
    assert.equal(facts.cpuVirtualization, 'vmx');
  });

  it('counts vfio-pci as loaded when proc/modules lists it', () => {
    build({ ...seedLikeHost(), loadedModules: ['vfio_pci'] });
    assert.equal(readPreflightFacts(io).vfioPci.loaded, true);
  });

  it('prefers the pci.ids inside the root over the system one', () => {
    build(seedLikeHost());
    assert.equal(pciIdsPaths(io)[0], path.join(root, 'usr/share/misc/pci.ids'));
    const name = pciNamer(pciIdsPaths(io)).name({ vendorId: '8086', deviceId: '1901', subsystemVendorId: null, subsystemDeviceId: null });
    assert.equal(name, 'Intel Corporation 6th-10th Gen Core Processor PCIe Controller (x16)');
  });
});
