// What the host offers for passthrough, as plain facts read once: IOMMU groups, the kernel command
// line, vfio-pci and /dev/vfio/vfio, CPU virtualization. preflightProblems() turns them into the
// sentences a user needs; it reports only what blocks passthrough, not what gpu-hookd fixes itself
// (an unloaded but loadable vfio-pci is loaded by the engine).

import type { HostIO } from './host-io';
import { listIommuGroupIds } from './iommu-groups';
import { isModuleLoaded, isPciDriverRegistered, kernelRelease, moduleAvailability } from './modules';
import { VFIO_DRIVER } from './pci-device';

export interface IommuCmdline {
  /** intel_iommu=on is present (Intel needs it unless the kernel enables the IOMMU by default). */
  intelIommuOn: boolean;
  /** Value of amd_iommu= ("on", "off", "pgtbl_v2", ...), or null when absent (AMD default: on). */
  amdIommu: string | null;
  /** iommu=pt: host devices skip translation, which keeps host DMA fast. */
  iommuPassthrough: boolean;
}

export interface PreflightFacts {
  kernelRelease: string | null;
  iommuGroupCount: number;
  iommuGroupsPresent: boolean;
  /** proc/cmdline, or null when unreadable. */
  cmdline: string | null;
  iommuCmdline: IommuCmdline;
  devVfioPresent: boolean;
  vfioPci: {
    /** The driver is registered now (module loaded, or built in). */
    loaded: boolean;
    builtIn: boolean | null;
    loadable: boolean | null;
  };
  /** "vmx" (Intel VT-x), "svm" (AMD-V), or null when proc/cpuinfo shows neither. */
  cpuVirtualization: 'vmx' | 'svm' | null;
}

export function readPreflightFacts(io: HostIO): PreflightFacts {
  const groups = listIommuGroupIds(io);
  const cmdline = io.readText('proc/cmdline') ?? null;
  const availability = moduleAvailability(io, VFIO_DRIVER);
  return {
    kernelRelease: kernelRelease(io),
    iommuGroupCount: groups.length,
    iommuGroupsPresent: groups.length > 0,
    cmdline,
    iommuCmdline: parseIommuCmdline(cmdline ?? ''),
    devVfioPresent: io.exists('dev/vfio/vfio'),
    vfioPci: {
      loaded: isPciDriverRegistered(io, VFIO_DRIVER) || isModuleLoaded(io, VFIO_DRIVER),
      builtIn: availability.builtIn,
      loadable: availability.loadable,
    },
    cpuVirtualization: cpuVirtualizationFlag(io.readText('proc/cpuinfo') ?? ''),
  };
}

export function parseIommuCmdline(cmdline: string): IommuCmdline {
  const args = cmdline.split(/\s+/).filter((a) => a.length > 0);
  const value = (key: string): string | null => {
    const last = args.filter((a) => a.startsWith(`${key}=`)).pop();
    return last === undefined ? null : last.slice(key.length + 1);
  };
  return {
    intelIommuOn: (value('intel_iommu') ?? '').split(',').includes('on'),
    amdIommu: value('amd_iommu'),
    iommuPassthrough: value('iommu') === 'pt',
  };
}

/** The virtualization flag of the first CPU's "flags" line in proc/cpuinfo. */
export function cpuVirtualizationFlag(cpuinfo: string): 'vmx' | 'svm' | null {
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l));
  if (!line) return null;
  const flags = new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/));
  if (flags.has('vmx')) return 'vmx';
  if (flags.has('svm')) return 'svm';
  return null;
}

/** One sentence per fact that stops a GPU from reaching a VM, each saying what to do. */
export function preflightProblems(facts: PreflightFacts): string[] {
  const problems: string[] = [];
  if (facts.cpuVirtualization === null) {
    problems.push(
      'the CPU shows no virtualization flag (vmx or svm) in /proc/cpuinfo: enable VT-x or AMD-V/SVM in the firmware setup',
    );
  }
  if (!facts.iommuGroupsPresent) {
    const how =
      facts.cpuVirtualization === 'svm'
        ? 'enable AMD-Vi/IOMMU in the firmware setup (and remove amd_iommu=off from the kernel command line if present)'
        : 'enable VT-d in the firmware setup and add intel_iommu=on to the kernel command line';
    problems.push(`the kernel made no IOMMU groups (/sys/kernel/iommu_groups is empty): ${how}, then reboot`);
  }
  const { loaded, builtIn, loadable } = facts.vfioPci;
  if (!loaded && builtIn === false && loadable === false) {
    problems.push(
      `${VFIO_DRIVER} is neither loaded, built in, nor installed as a module for kernel ${facts.kernelRelease}: ` +
        'install the kernel modules package of the running kernel',
    );
  }
  if (loaded && !facts.devVfioPresent) {
    problems.push(`${VFIO_DRIVER} is loaded but /dev/vfio/vfio is missing: check "dmesg | grep -i vfio" for why the vfio core did not start`);
  }
  return problems;
}
