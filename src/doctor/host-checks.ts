// The host's half of the doctor: CPU virtualization, the IOMMU, the vfio modules and each GPU's
// IOMMU group, as plain functions over facts read once (host-facts.ts).

import type { PreflightFacts } from '../host/preflight';
import type { Gpu, PciDevice } from '../host/pci-device';
import { describeViability, gpuCardAddresses, gpuViability } from '../host/viability';
import { fail, ok, warn, type Check } from './check';
import { resetRisk, type GpuResets } from '../host/gpu-resets';
import { describeResets } from '../host/pci-reset';

export interface HostFacts {
  preflight: PreflightFacts;
  /** dev/kvm exists (a kvm module is loaded and usable). */
  kvmDevice: boolean;
  gpus: Gpu[];
  /** Display devices in no IOMMU group. */
  gpusWithoutGroup: PciDevice[];
  /** Each GPU's resets, by its address. */
  gpuResets: Record<string, GpuResets>;
}

const KERNEL_CMDLINE_HOW =
  'add it to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub and run "sudo grub-mkconfig -o /boot/grub/grub.cfg" ' +
  '(Debian/Ubuntu: "sudo update-grub"; systemd-boot: the "options" line of the entry in /boot/loader/entries/), then reboot';

export function checkCpuVirtualization(facts: HostFacts): Check {
  const flag = facts.preflight.cpuVirtualization;
  if (flag === null) {
    return fail(
      'cpu-virtualization',
      'the CPU shows no virtualization flag (vmx or svm) in /proc/cpuinfo',
      'enable Intel VT-x ("Intel Virtualization Technology") or AMD SVM ("SVM Mode") in the firmware setup, then reboot',
    );
  }
  const name = flag === 'vmx' ? 'Intel VT-x (vmx)' : 'AMD-V (svm)';
  if (!facts.kvmDevice) {
    const module = flag === 'vmx' ? 'kvm_intel' : 'kvm_amd';
    return fail('cpu-virtualization', `the CPU has ${name} but /dev/kvm is missing`, `sudo modprobe ${module} (and look at "dmesg | grep -i kvm" if it fails)`);
  }
  return ok('cpu-virtualization', `${name}, /dev/kvm present`);
}

export function checkIommu(facts: HostFacts): Check {
  const p = facts.preflight;
  const switches = [
    p.iommuCmdline.intelIommuOn ? 'intel_iommu=on' : '',
    p.iommuCmdline.amdIommu !== null ? `amd_iommu=${p.iommuCmdline.amdIommu}` : '',
    p.iommuCmdline.iommuPassthrough ? 'iommu=pt' : '',
  ].filter((s) => s !== '');
  const onCmdline = switches.length ? `kernel command line: ${switches.join(' ')}` : 'no IOMMU switch on the kernel command line';
  if (p.iommuGroupsPresent) {
    return ok('iommu', `IOMMU on: ${p.iommuGroupCount} groups in /sys/kernel/iommu_groups (${onCmdline})`);
  }
  const detail = `the IOMMU is off: /sys/kernel/iommu_groups is empty (${onCmdline})`;
  if (p.cpuVirtualization === 'svm' || p.iommuCmdline.amdIommu !== null) {
    if (p.iommuCmdline.amdIommu === 'off') return fail('iommu', detail, `remove amd_iommu=off from the kernel command line: ${KERNEL_CMDLINE_HOW}`);
    return fail('iommu', detail, 'enable the IOMMU ("IOMMU" or "AMD-Vi") in the firmware setup, then reboot');
  }
  if (!p.iommuCmdline.intelIommuOn) {
    return fail('iommu', detail, `add intel_iommu=on iommu=pt to the kernel command line: ${KERNEL_CMDLINE_HOW}; also enable VT-d in the firmware setup`);
  }
  return fail('iommu', detail, 'intel_iommu=on is set, so VT-d is off in the firmware: enable "VT-d" in the firmware setup, then reboot');
}

export function checkVfio(facts: HostFacts): Check {
  const { loaded, builtIn, loadable } = facts.preflight.vfioPci;
  const release = facts.preflight.kernelRelease ?? 'the running kernel';
  if (loaded && !facts.preflight.devVfioPresent) {
    return fail('vfio', 'vfio-pci is loaded but /dev/vfio/vfio is missing', 'look at "dmesg | grep -i vfio" for why the vfio core did not start, then reboot');
  }
  if (loaded) return ok('vfio', `vfio-pci ${builtIn ? 'built into the kernel' : 'loaded'}, /dev/vfio/vfio present`);
  if (builtIn || loadable) return ok('vfio', 'vfio-pci not loaded yet: gpu-hookd loads it at the first VM start');
  if (builtIn === null && loadable === null) {
    return warn('vfio', `vfio-pci is not loaded and the module lists of ${release} cannot be read`, `check with "modinfo vfio-pci"; install the kernel's modules package if it is missing`);
  }
  return fail('vfio', `vfio-pci is neither loaded, built in, nor installed as a module for ${release}`, 'install the modules package of the running kernel (or boot a kernel that has vfio-pci)');
}

/** One line per GPU: can its group be given to a VM without taking a device from the host? */
export function checkGpus(facts: HostFacts): Check[] {
  const checks: Check[] = [];
  if (facts.gpus.length === 0 && facts.gpusWithoutGroup.length === 0) {
    return [warn('gpus', 'no GPU (PCI display device, class 03xxxx) on this host', 'check that the card is seated and powered: "lspci -nn | grep -i vga"')];
  }
  for (const device of facts.gpusWithoutGroup) {
    checks.push(fail(`gpu.${device.address}`, `${device.address} (${device.name}) is in no IOMMU group`, 'turn the IOMMU on (see the iommu line above)'));
  }
  for (const gpu of facts.gpus) {
    const card = gpuCardAddresses(gpu);
    const viability = gpuViability(gpu);
    const head = `${gpu.address} (${gpu.name})${gpu.bootVga ? ', the boot GPU,' : ''}`;
    if (viability.viable) {
      const others = gpu.group.members.length - card.length;
      const rest = others > 0 ? `, ${others} more member${others > 1 ? 's' : ''} on vfio-pci, bridges or without a driver` : '';
      checks.push(ok(`gpu.${gpu.address}`, `${head} IOMMU group ${gpu.group.id} is viable: ${card.length} function${card.length > 1 ? 's' : ''} move together${rest}`));
    } else {
      checks.push(
        fail(
          `gpu.${gpu.address}`,
          `${head} IOMMU group ${gpu.group.id} is not viable: ${describeViability(viability)}`,
          `move the card to a slot whose IOMMU group holds only the card (see "gpu-hookctl list"), or enable ACS in the firmware setup; gpu-hookd takes ${viability.culprit} from its driver only for a VM whose domain names it as a <hostdev> too`,
        ),
      );
    }
  }
  return checks;
}

/** One line per GPU: can the kernel reset it, so that it comes back to the host after a VM? */
export function checkGpuResets(facts: HostFacts): Check[] {
  return facts.gpus.map((gpu) => {
    const id = `reset.${gpu.address}`;
    const resets = facts.gpuResets[gpu.address];
    if (!resets) return warn(id, `the reset methods of ${gpu.address} could not be read`, `look at ${gpu.address}'s reset_method in sysfs`);
    const risk = resetRisk(gpu.address, resets);
    if (risk) return warn(id, `${risk.problem} (reset methods: ${describeResets(resets.functions[0])})`, risk.fix);
    const display = resets.functions[0];
    const how = resets.displayWorking.length > 0 ? resets.displayWorking.join(', ') : display.source === 'unknown' && display.resettable ? 'a method only root can see' : '';
    const parts = [how ? `the kernel resets ${gpu.address} with ${how}` : '', resets.slotResetBridge ? `its bus through ${resets.slotResetBridge}` : ''];
    const vendor = resets.vendorResetActive && resets.vendorResetFamily ? ` (vendor-reset in place for the AMD ${resets.vendorResetFamily})` : '';
    return ok(id, `${parts.filter((p) => p !== '').join(', and ')}${vendor}`);
  });
}

export function hostChecks(facts: HostFacts): Check[] {
  return [checkCpuVirtualization(facts), checkIommu(facts), checkVfio(facts), ...checkGpus(facts), ...checkGpuResets(facts)];
}
