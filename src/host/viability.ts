// Whether an IOMMU group can be given to a VM. The kernel only says so through an ioctl
// (VFIO_GROUP_GET_STATUS); from sysfs the rule is: every non-bridge member is on vfio-pci or has no
// driver. A member outside the planned move that sits on a host driver makes the group non-viable:
// moving the group would silently take that device (a NIC, a disk controller) from the host.

import { slotOf } from './pci-address';
import { VFIO_DRIVER, type Gpu, type IommuGroup, type PciDevice, type Viability } from './pci-device';

/** The functions of the GPU's own card (its slot): what a GPU move puts on vfio-pci by default. */
export function gpuCardAddresses(gpu: Gpu): string[] {
  const slot = slotOf(gpu.address);
  return gpu.functions.filter((f) => slotOf(f.address) === slot).map((f) => f.address);
}

/** Viability once the devices in `target` are on vfio-pci: every other non-bridge member must
 *  already be on vfio-pci or have no driver. A non-viable answer's reason reads on from the
 *  culprit's address: `${culprit} ${reason}` (see describeViability). */
export function groupViability(group: IommuGroup, target: readonly string[]): Viability {
  const moving = new Set(target);
  const culprit = group.members.find((m) => !m.isBridge && !moving.has(m.address) && holdsHostDriver(m));
  if (!culprit) return { viable: true };
  const peer = target.length > 0 ? ` with ${target[0]}` : '';
  return {
    viable: false,
    culprit: culprit.address,
    reason: `(${culprit.name} on ${culprit.driver}) shares IOMMU group ${group.id}${peer} and would be taken from ${culprit.driver}`,
  };
}

/** Viability of the GPU's group when the GPU's own card moves to vfio-pci. */
export function gpuViability(gpu: Gpu): Viability {
  return groupViability(gpu.group, gpuCardAddresses(gpu));
}

/** Viability as the group is bound right now (what VFIO_GROUP_GET_STATUS would answer). */
export function currentViability(group: IommuGroup): Viability {
  const culprit = group.members.find((m) => !m.isBridge && holdsHostDriver(m));
  if (!culprit) return { viable: true };
  return {
    viable: false,
    culprit: culprit.address,
    reason: `(${culprit.name}) in IOMMU group ${group.id} is on ${culprit.driver}, not ${VFIO_DRIVER}`,
  };
}

/** "viable", or the culprit and why: "0000:02:00.0 (Intel ... on igb) shares IOMMU group 14 with ...". */
export function describeViability(viability: Viability): string {
  return viability.viable ? 'viable' : `${viability.culprit} ${viability.reason}`;
}

function holdsHostDriver(device: PciDevice): boolean {
  return device.driver !== null && device.driver !== VFIO_DRIVER;
}
