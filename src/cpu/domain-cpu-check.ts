// The CPUs a domain XML names, checked against this host before the VM starts: every cpuset must
// parse, name CPUs that exist and are online, and a vCPU's pin must stay off the CPUs the host keeps
// for itself. libvirt would otherwise fail later with "Invalid value '17' for 'cpuset.cpus'", or
// start a VM that shares its cores with the host after all.

import type { DomainRequest } from '../libvirt/domain-request';
import { CpuError } from './cpu-error';
import { CpuListError, commonCpus, formatCpuList, parseCpuList } from './cpu-list';
import type { CpuTopology } from './cpu-topology';

export interface DomainCpus {
  /** Host CPUs per vCPU index, for the vCPUs that have a <vcpupin>. */
  vcpuPins: Map<number, number[]>;
  /** <vcpu cpuset>, or null when absent. */
  vcpuCpuset: number[] | null;
  /** <emulatorpin cpuset>, or null when absent. */
  emulator: number[] | null;
}

/** Parses a cpuset and checks that each CPU exists and is online; `where` names it for the user. */
export function hostCpuSet(text: string, where: string, topology: CpuTopology, exclusions = true): number[] {
  let cpus: number[];
  try {
    cpus = parseCpuList(text, { exclusions });
  } catch (e) {
    if (!(e instanceof CpuListError)) throw e;
    throw new CpuError('InvalidArgument', `${where} is not a CPU list: ${e.message}; fix it`);
  }
  if (cpus.length === 0) throw new CpuError('InvalidArgument', `${where} names no CPU at all; give it a list such as "2-3"`);
  for (const cpu of cpus) {
    if (!topology.possible.includes(cpu)) {
      throw new CpuError('InvalidArgument', `${where} names CPU ${cpu}, which this host does not have (its CPUs are ${formatCpuList(topology.possible)}); change the list`);
    }
    if (!topology.online.includes(cpu)) {
      throw new CpuError('InvalidArgument', 
        `${where} names CPU ${cpu}, which is offline; bring it online (echo 1 > /sys/devices/system/cpu/cpu${cpu}/online) or change the list`,
      );
    }
  }
  return cpus;
}

/** Checks the domain's <vcpu cpuset> and <cputune> against the host and the CPUs it keeps (`housekeeping`). */
export function checkDomainCpus(request: DomainRequest, topology: CpuTopology, housekeeping: readonly number[] | null): DomainCpus {
  const vm = request.name;
  const vcpuPins = new Map<number, number[]>();
  for (const pin of request.cputune.vcpupins) {
    const where = `<vcpupin vcpu='${pin.vcpu}'> of VM ${vm}`;
    if (!Number.isInteger(pin.vcpu) || pin.vcpu < 0 || pin.vcpu >= request.vcpus) {
      throw new CpuError('InvalidArgument', `${where} names a vCPU the domain does not have (it has ${request.vcpus}, numbered from 0); fix the vcpu attribute`);
    }
    const cpus = hostCpuSet(pin.cpuset, where, topology);
    const overlap = housekeeping === null ? [] : commonCpus(cpus, housekeeping);
    if (overlap.length > 0) {
      throw new CpuError('InvalidArgument', 
        `${where} pins it to CPU${overlap.length === 1 ? '' : 's'} ${formatCpuList(overlap)}, which the host keeps for itself ` +
          `(housekeepingCpus ${formatCpuList(housekeeping as number[])}); pin the vCPU elsewhere or change housekeepingCpus`,
      );
    }
    vcpuPins.set(pin.vcpu, cpus);
  }
  for (const pin of request.cputune.iothreadpins) hostCpuSet(pin.cpuset, `<iothreadpin iothread='${pin.vcpu}'> of VM ${vm}`, topology);
  const emulator = request.cputune.emulatorpin === '' ? null : hostCpuSet(request.cputune.emulatorpin, `<emulatorpin> of VM ${vm}`, topology);
  const vcpuCpuset = request.vcpuCpuset === '' ? null : hostCpuSet(request.vcpuCpuset, `<vcpu cpuset> of VM ${vm}`, topology);
  return { vcpuPins, vcpuCpuset, emulator };
}
