// What `gpu-hookctl list` shows, as plain data: the host's preflight facts and, per GPU, its IOMMU
// group with each member's role and the group's viability. The table and --json both render this.

import { discoverGpus, type DiscoveryOptions } from '../host/gpu-inventory';
import type { HostIO } from '../host/host-io';
import { groupReadiness, sysfsReadiness, type GroupReadiness } from '../host/kernel-viability';
import type { Gpu, PciDevice, Viability } from '../host/pci-device';
import { preflightProblems, readPreflightFacts, type PreflightFacts } from '../host/preflight';
import { describeUses, functionUses } from '../host/function-uses';
import { describeBinding, isLeftover } from '../host/leftovers';
import { gpuCardAddresses, gpuViability, type UsesOf } from '../host/viability';
import { describeResetRisk, readGpuResets, resetRisk, type GpuResets } from '../host/gpu-resets';

/** display: the GPU itself; function: another function of its card (moves with it); bridge: stays on
 *  the host; shared: another device in the group or slot, not of the card (moves only when a domain
 *  names it; on a host driver it makes the group not viable). */
export type MemberRole = 'display' | 'function' | 'bridge' | 'shared';

export interface GroupMember extends PciDevice {
  role: MemberRole;
  /** What the host uses it for: "interface enp2s0", "disk nvme0n1", or "". */
  uses: string;
  /** How it stands when it is not on a host driver and gpu-hookd did not put it there, or "" (host/leftovers.ts). */
  leftover: string;
}

export interface GpuListing {
  address: string;
  name: string;
  bootVga: boolean;
  iommuGroup: string;
  /** Addresses that a move of this GPU puts on vfio-pci: every non-bridge member, display first. */
  functions: string[];
  members: GroupMember[];
  /** Can the group go to a VM once the GPU's card is on vfio-pci? */
  viability: Viability;
  /** Could a VM open the group as it is bound right now? */
  readyNow: Viability;
  /** Who said so: the kernel (VFIO_GROUP_GET_STATUS, as root) or the sysfs rule. */
  readyNowFrom: GroupReadiness['source'];
  /** The kernel refused to open the group: a process (a running VM) holds it. */
  inUse: boolean;
  /** How the kernel can reset each function that moves with the GPU, and the card as a whole. */
  resets: GpuResets;
  /** Why the GPU is known to come back broken after a VM, with the fix; null when nothing says so. */
  resetRisk: string | null;
}

export interface ListReport {
  root: string;
  preflight: PreflightFacts;
  /** Sentences naming what blocks passthrough on this host, each with what to do. */
  problems: string[];
  gpus: GpuListing[];
  /** Display devices in no IOMMU group (the IOMMU is off): they cannot be given to a VM. */
  gpusWithoutGroup: PciDevice[];
}

export function buildListReport(io: HostIO, options: DiscoveryOptions = {}): ListReport {
  const preflight = readPreflightFacts(io);
  const inventory = discoverGpus(io, options);
  return {
    root: io.root,
    preflight,
    problems: preflightProblems(preflight),
    gpus: inventory.gpus.map((gpu) => gpuListing(gpu, readGpuResets(io, gpu), groupReadiness(io, gpu.group), (a) => describeUses(functionUses(io, a)))),
    gpusWithoutGroup: inventory.gpusWithoutGroup,
  };
}

export function gpuListing(gpu: Gpu, resets: GpuResets, readiness: GroupReadiness = sysfsReadiness(gpu.group), usesOf: UsesOf = () => ''): GpuListing {
  const card = new Set(gpuCardAddresses(gpu));
  const role = (m: PciDevice): MemberRole => {
    if (m.address === gpu.address) return 'display';
    if (m.isBridge) return 'bridge';
    return card.has(m.address) ? 'function' : 'shared';
  };
  const order: MemberRole[] = ['display', 'function', 'shared', 'bridge'];
  const members = gpu.group.members
    .map((m) => ({ ...m, role: role(m), uses: m.isBridge ? '' : usesOf(m.address), leftover: card.has(m.address) && isLeftover(m) ? describeBinding(m) : '' }))
    .sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role) || a.address.localeCompare(b.address));
  return {
    address: gpu.address,
    name: gpu.name,
    bootVga: gpu.bootVga,
    iommuGroup: gpu.group.id,
    functions: gpu.functions.map((f) => f.address),
    members,
    viability: gpuViability(gpu, [], usesOf),
    readyNow: readiness.viability,
    readyNowFrom: readiness.source,
    inUse: readiness.inUse,
    resets,
    resetRisk: riskText(gpu.address, resets),
  };
}

function riskText(address: string, resets: GpuResets): string | null {
  const risk = resetRisk(address, resets);
  return risk ? describeResetRisk(risk) : null;
}
