// Whether an IOMMU group can be given to a VM. The kernel only says so through an ioctl
// (VFIO_GROUP_GET_STATUS); from sysfs the rule is: every non-bridge member is on vfio-pci or has no
// driver. A member outside the planned move that sits on a host driver makes the group non-viable:
// moving the group would silently take that device (a NIC, a disk controller) from the host.
// The lab asked the kernel and this rule side by side (docs/kernel-facts.md, Viability).

import { slotOf } from './pci-address';
import { VFIO_DRIVER, type Gpu, type IommuGroup, type PciDevice, type Viability } from './pci-device';

/** What a graphics card carries besides its display function: HD audio (0401, 0403), USB (0c03) and
 *  USB-C controllers (UCSI, 0c80). Anything else in its slot (a NIC, an NVMe drive) is not the card. */
export function isCardClass(classCode: string): boolean {
  return classCode.startsWith('03') || ['0401', '0403', '0c03', '0c80'].some((c) => classCode.startsWith(c));
}

/** The functions of the GPU's own card (its slot, of a card's classes): what a GPU move puts on vfio-pci. */
export function gpuCardAddresses(gpu: Gpu): string[] {
  const slot = slotOf(gpu.address);
  return gpu.functions.filter((f) => slotOf(f.address) === slot && isCardClass(f.classCode)).map((f) => f.address);
}

/**
 * What a move of the GPU puts on vfio-pci: its card's functions, and the other functions of its group
 * that the domain names (`named`: its hostdevs and metadata). The others stay as they are.
 */
export function moveTargets(gpu: Gpu, named: readonly string[] = []): PciDevice[] {
  const card = new Set(gpuCardAddresses(gpu));
  const wanted = new Set(named);
  return gpu.functions.filter((f) => card.has(f.address) || wanted.has(f.address));
}

/** Names what the host uses a function for ("interface enp2s0"), or "" (src/host/function-uses.ts). */
export type UsesOf = (address: string) => string;

/** Viability once the devices in `target` are on vfio-pci: every other non-bridge member must
 *  already be on vfio-pci or have no driver. A non-viable answer's reason reads on from the
 *  culprit's address: `${culprit} ${reason}` (see describeViability). */
export function groupViability(group: IommuGroup, target: readonly string[], usesOf: UsesOf = () => ''): Viability {
  const moving = new Set(target);
  const culprit = group.members.find((m) => !m.isBridge && !moving.has(m.address) && holdsHostDriver(m));
  if (!culprit) return { viable: true };
  const peer = target.length > 0 ? ` with ${target[0]}` : '';
  const uses = usesOf(culprit.address);
  return {
    viable: false,
    culprit: culprit.address,
    reason: `(${culprit.name} on ${culprit.driver}${uses ? `: ${uses}` : ''}) shares IOMMU group ${group.id}${peer} and would be taken from ${culprit.driver}`,
  };
}

/** Viability of the GPU's group when the GPU's own card moves to vfio-pci. */
export function gpuViability(gpu: Gpu, named: readonly string[] = [], usesOf?: UsesOf): Viability {
  return groupViability(gpu.group, moveTargets(gpu, named).map((f) => f.address), usesOf);
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
