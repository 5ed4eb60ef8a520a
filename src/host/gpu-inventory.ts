// The host's GPUs: display-class devices (class 03xxxx) with their IOMMU groups. Discovery is one
// pass: every device's class is read, and only the groups of display devices are read in full.

import type { HostIO } from './host-io';
import { readIommuGroup } from './iommu-groups';
import { parsePciAddress, slotOf } from './pci-address';
import { isDisplayClass, type Gpu, type IommuGroup, type PciDevice } from './pci-device';
import { listPciAddresses, PciDeviceReader, readIommuGroupOf, readPciClass } from './pci-discovery';
import type { PciNamer } from './pci-ids';

export interface GpuInventory {
  /** GPUs in an IOMMU group, in address order. */
  gpus: Gpu[];
  /** Display devices the kernel put in no IOMMU group (IOMMU off): listed, never movable. */
  gpusWithoutGroup: PciDevice[];
}

export interface DiscoveryOptions {
  /** Names devices; defaults to the system's pci.ids. */
  namer?: PciNamer;
  /** Functions whose driver_override must not be read (see PciDeviceReader); their driverOverride is null. */
  unreadable?: ReadonlySet<string>;
  /** Each driver's module as an earlier pass read it, filled as this one reads more (see PciDeviceReader). */
  driverModules?: Map<string, string>;
}

// Each refusal carries `kind`, the family of org.gpuhookd1.Error the daemon answers with.

/** The requested address is not a PCI device of this host. */
export class NoSuchPciDeviceError extends Error {
  readonly kind = 'NotFound';
  constructor(readonly address: string) {
    super(`no PCI device ${address} on this host: check the address with "gpu-hookctl list"`);
    this.name = 'NoSuchPciDeviceError';
  }
}

/** The device is not a GPU and shares no IOMMU group with one. */
export class NotAGpuError extends Error {
  readonly kind = 'InvalidArgument';
  constructor(readonly device: PciDevice) {
    super(
      `${describeDevice(device)} is not a GPU and shares no IOMMU group with one: gpu-hookd only moves GPUs ` +
        `with their groups; pick a GPU from "gpu-hookctl list"`,
    );
    this.name = 'NotAGpuError';
  }
}

/** The GPU has no IOMMU group, so it cannot be given to a VM. */
export class NoIommuGroupError extends Error {
  readonly kind = 'NotViable';
  constructor(readonly device: PciDevice) {
    super(
      `${describeDevice(device)} is in no IOMMU group because the kernel made none: enable VT-d or AMD-Vi ` +
        `in the firmware setup, add intel_iommu=on (Intel) to the kernel command line, and reboot`,
    );
    this.name = 'NoIommuGroupError';
  }
}

export function discoverGpus(io: HostIO, options: DiscoveryOptions = {}): GpuInventory {
  const reader = new PciDeviceReader(io, options);
  const groups = new Map<string, IommuGroup>();
  const gpus: Gpu[] = [];
  const gpusWithoutGroup: PciDevice[] = [];
  for (const address of listPciAddresses(io)) {
    const classCode = readPciClass(io, address);
    if (classCode === undefined || !isDisplayClass(classCode)) continue;
    const groupId = readIommuGroupOf(io, address);
    if (groupId === null) {
      const device = reader.read(address);
      if (device) gpusWithoutGroup.push(device);
      continue;
    }
    let group = groups.get(groupId);
    if (!group) {
      group = readIommuGroup(io, groupId, reader);
      groups.set(groupId, group);
    }
    const gpu = gpuInGroup(address, group);
    if (gpu) gpus.push(gpu);
  }
  return { gpus, gpusWithoutGroup };
}

/** The GPUs that can be given to a VM (those in an IOMMU group), in address order. */
export function listGpus(io: HostIO, options: DiscoveryOptions = {}): Gpu[] {
  return discoverGpus(io, options).gpus;
}

/** The GPU whose IOMMU group holds `address` (the GPU itself or any function of its group).
 *  `group`: the group the caller just read for `address`, not read again.
 *  Throws InvalidPciAddressError, NoSuchPciDeviceError, NotAGpuError or NoIommuGroupError. */
export function findGpuForAddress(io: HostIO, address: string, options: DiscoveryOptions = {}, group?: string): Gpu {
  const normalized = parsePciAddress(address);
  const reader = new PciDeviceReader(io, options);
  const device = reader.read(normalized, group);
  if (!device) throw new NoSuchPciDeviceError(normalized);
  if (device.iommuGroup === null) {
    throw isDisplayClass(device.classCode) ? new NoIommuGroupError(device) : new NotAGpuError(device);
  }
  const members = readIommuGroup(io, device.iommuGroup, reader);
  const gpuAddress = pickDisplayFor(normalized, members);
  const gpu = gpuAddress === undefined ? undefined : gpuInGroup(gpuAddress, members);
  if (!gpu) throw new NotAGpuError(device);
  return gpu;
}

/** The Gpu value for the display device at `address` in `group`; undefined if it is not a member. */
export function gpuInGroup(address: string, group: IommuGroup): Gpu | undefined {
  const display = group.members.find((m) => m.address === address);
  if (!display) return undefined;
  const others = group.members.filter((m) => !m.isBridge && m.address !== address);
  return {
    address,
    name: display.name,
    bootVga: display.bootVga,
    group,
    functions: [display, ...others],
  };
}

/** The display device a group member belongs to: the one in its own slot (the same card) if any,
 *  else the group's first display device. */
function pickDisplayFor(address: string, group: IommuGroup): string | undefined {
  const displays = group.members.filter((m) => isDisplayClass(m.classCode));
  const sameCard = displays.find((m) => slotOf(m.address) === slotOf(address));
  return (sameCard ?? displays[0])?.address;
}

/** "0000:02:00.0 (Intel Corporation I211 Gigabit Network Connection on igb)" */
function describeDevice(device: PciDevice): string {
  return `${device.address} (${device.name}${device.driver ? ` on ${device.driver}` : ', no driver'})`;
}
