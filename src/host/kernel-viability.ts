// Whether a VM could open an IOMMU group as it is bound right now, asked of the kernel itself where
// that is possible (root, the real "/", /dev/vfio/<group> present) and answered by the sysfs rule
// everywhere else. The two agree on the lab's real kernel (test/lab/nested-passthrough.test.ts); the
// kernel's answer wins where they would not, since it is what QEMU will get.

import type { HostIO } from './host-io';
import type { IommuGroup, Viability } from './pci-device';
import { currentViability } from './viability';
import type { VfioGroupStatus } from './vfio-group-status';

export interface GroupReadiness {
  viability: Viability;
  /** "kernel": VFIO_GROUP_GET_STATUS answered (or refused with EBUSY); "sysfs": the driver rule did. */
  source: 'kernel' | 'sysfs';
  /** The kernel refused to open the group because another process holds it (a running VM). */
  inUse: boolean;
}

/** The sysfs rule's answer alone (no kernel to ask). */
export function sysfsReadiness(group: IommuGroup): GroupReadiness {
  return { viability: currentViability(group), source: 'sysfs', inUse: false };
}

/** Combines the kernel's answer with the sysfs rule; pure, for tests of every kernel answer. */
export function readinessFrom(group: IommuGroup, status: VfioGroupStatus | undefined): GroupReadiness {
  const bySysfs = sysfsReadiness(group);
  if (status?.answer === 'busy') return { ...bySysfs, source: 'kernel', inUse: true };
  if (status?.answer !== 'status') return bySysfs;
  if (status.viable) return { viability: { viable: true }, source: 'kernel', inUse: false };
  // The kernel says no; the sysfs rule usually names the culprit. When it finds none, the kernel
  // knows of a member sysfs does not show: say so rather than guess.
  const viability: Viability = bySysfs.viability.viable
    ? {
        viable: false,
        culprit: group.members[0]?.address ?? `group ${group.id}`,
        reason: `(IOMMU group ${group.id}) is reported not viable by the kernel (VFIO_GROUP_GET_STATUS) although every member reads vfio-pci or unbound`,
      }
    : bySysfs.viability;
  return { viability, source: 'kernel', inUse: false };
}

/** The group's readiness now: the kernel's answer when this HostIO can ask it, else the sysfs rule. */
export function groupReadiness(io: HostIO, group: IommuGroup): GroupReadiness {
  return readinessFrom(group, io.vfioGroupStatus?.(group.id));
}
