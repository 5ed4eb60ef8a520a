// IOMMU groups as the kernel lists them in sys/kernel/iommu_groups. Group numbers change when
// devices are added, so they are always read from the tree, never assumed.

import type { HostIO } from './host-io';
import { isPciAddress } from './pci-address';
import type { IommuGroup } from './pci-device';
import type { PciDeviceReader } from './pci-discovery';

const GROUPS = 'sys/kernel/iommu_groups';

/** Group numbers in numeric order; [] when the kernel made no groups (IOMMU off). */
export function listIommuGroupIds(io: HostIO): string[] {
  return io
    .list(GROUPS)
    .filter(isGroupId)
    .sort((a, b) => Number(a) - Number(b));
}

/** Addresses of the group's members, in address order. */
export function iommuGroupMemberAddresses(io: HostIO, id: string): string[] {
  if (!isGroupId(id)) return [];
  return io.list(`${GROUPS}/${id}/devices`).filter(isPciAddress);
}

/** The group with every member read; members that vanished while reading are left out. */
export function readIommuGroup(io: HostIO, id: string, reader: PciDeviceReader): IommuGroup {
  const members = iommuGroupMemberAddresses(io, id)
    .map((address) => reader.read(address, id))
    .filter((d) => d !== undefined);
  return { id, members };
}

function isGroupId(name: string): boolean {
  return /^[0-9]{1,9}$/.test(name);
}
