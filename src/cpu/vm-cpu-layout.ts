// Which host CPUs a VM runs on and which the host keeps, decided once at prepare from the domain XML,
// the VM's settings and the host's topology. Everything later (isolation, governors, IRQs, thread
// pins at `started`, the cpu-plan command) works from this plain record.

import type { VmSettings } from '../daemon/config-schema';
import type { DomainRequest } from '../libvirt/domain-request';
import { CpuError } from './cpu-error';
import { formatCpuList, withoutCpus } from './cpu-list';
import type { CpuTopology } from './cpu-topology';
import { checkDomainCpus, hostCpuSet } from './domain-cpu-check';
import { planAutoPins, type GuestTopology } from './pin-plan';

export type CpuSettings = Pick<VmSettings, 'isolateCpus' | 'pin' | 'governor' | 'irqAffinity' | 'housekeepingCpus'>;

export interface VmCpuLayout {
  vm: string;
  /** Where the VM's CPUs come from: our plan, the domain's vcpupins, its <vcpu cpuset>, or "all but housekeeping". */
  source: 'auto' | 'cputune' | 'vcpu-cpuset' | 'housekeeping';
  /** Set when gpu-hookd pins QEMU's threads itself at `started` (pin: auto): host CPU per vCPU, and the rest's CPUs. */
  threadPins: { vcpus: number[]; emulator: number[] } | null;
  /** The CPUs the VM runs on: host work, IRQs and governors are steered by this. */
  vmCpus: number[];
  /** The CPUs the host keeps (isolation confines system.slice, user.slice and init.scope to them). */
  housekeeping: number[];
  /** What to tell the guest (auto only). */
  guestTopology: GuestTopology | null;
  notes: string[];
}

/** Settings that ask nothing of a VM's CPUs (the defaults). */
export const NO_CPU_WORK: CpuSettings = { isolateCpus: false, pin: 'none', governor: false, irqAffinity: false, housekeepingCpus: '' };

/** True when the settings ask gpu-hookd to do anything with this VM's CPUs. */
export function wantsCpuWork(s: CpuSettings): boolean {
  return s.isolateCpus || s.governor || s.irqAffinity || s.pin === 'auto';
}

export interface LayoutOptions {
  /** CPUs other running VMs hold: an automatic plan avoids them. */
  taken?: readonly number[];
}

export function resolveVmCpuLayout(request: DomainRequest, settings: CpuSettings, topology: CpuTopology, options: LayoutOptions = {}): VmCpuLayout {
  const vm = request.name;
  const kept =
    settings.housekeepingCpus.trim() === '' ? null : hostCpuSet(settings.housekeepingCpus, `housekeepingCpus of VM ${vm}`, topology, false);
  const domain = checkDomainCpus(request, topology, kept);
  const taken = options.taken ?? [];
  const finish = (source: VmCpuLayout['source'], vmCpus: number[], extra: Partial<VmCpuLayout> = {}): VmCpuLayout => {
    const housekeeping = extra.housekeeping ?? kept ?? withoutCpus(topology.online, vmCpus);
    if (housekeeping.length === 0) {
      throw new CpuError('InvalidArgument', 
        `VM ${vm} would leave the host no CPU of its own: of the online CPUs ${formatCpuList(topology.online)}, it runs on ` +
          `${formatCpuList(vmCpus)}${taken.length > 0 ? ` and other VMs hold ${formatCpuList(taken)}` : ''}; give it fewer CPUs or set housekeepingCpus`,
      );
    }
    return { vm, source, threadPins: null, vmCpus, guestTopology: null, notes: [], ...extra, housekeeping };
  };

  if (domain.vcpuPins.size > 0) {
    const floating = Array.from({ length: request.vcpus }, (_, i) => i).filter((i) => !domain.vcpuPins.has(i));
    const hostWide = settings.isolateCpus || settings.governor || settings.irqAffinity;
    if (floating.length > 0 && domain.vcpuCpuset === null && hostWide) {
      throw new CpuError('InvalidArgument', 
        `vCPU ${floating[0]} of VM ${vm} has no <vcpupin> and the domain has no <vcpu cpuset>, so it may run on any CPU and its CPUs ` +
          `cannot be kept free of host work; pin every vCPU, or remove the vcpupins and set pin to "auto"`,
      );
    }
    const pinned = [...domain.vcpuPins.values()].flat();
    const vmCpus = [...new Set(floating.length > 0 ? [...pinned, ...(domain.vcpuCpuset ?? [])] : pinned)].sort((a, b) => a - b);
    return finish('cputune', vmCpus);
  }

  if (settings.pin === 'auto') {
    if (domain.vcpuCpuset !== null) {
      throw new CpuError('InvalidArgument', 
        `VM ${vm} has both <vcpu cpuset='${request.vcpuCpuset}'> and pin "auto": libvirt confines the vCPUs to the cpuset, so an ` +
          `automatic plan could not apply; remove the cpuset or set pin to "none"`,
      );
    }
    const plan = planAutoPins(topology, request.vcpus, vm, { housekeeping: kept ?? undefined, taken });
    return finish('auto', plan.vmCpus, {
      housekeeping: plan.housekeeping,
      threadPins: { vcpus: plan.vcpuPins, emulator: domain.emulator ?? plan.housekeeping },
      guestTopology: plan.guestTopology,
      notes: plan.notes,
    });
  }

  if (domain.vcpuCpuset !== null) {
    return finish('vcpu-cpuset', domain.vcpuCpuset);
  }
  if (kept !== null) return finish('housekeeping', withoutCpus(topology.online, kept));
  throw new CpuError('InvalidArgument', 
    `VM ${vm} asks gpu-hookd to keep host work off its CPUs, but its CPUs are unknown: it has no <cputune> vcpupins and no ` +
      `<vcpu cpuset>; set pin to "auto", pin its vCPUs in the domain XML (gpu-hookctl cpu-plan ${vm} prints a <cputune>), or set housekeepingCpus`,
  );
}
