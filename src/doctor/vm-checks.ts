// The doctor's checks for one VM, over its domain XML (as read by readDomainRequest and
// readDomainPlatform), the host's GPUs and CPUs, and the VM's resolved settings.

import { CpuError } from '../cpu/cpu-error';
import { formatCpuList } from '../cpu/cpu-list';
import type { CpuTopology } from '../cpu/cpu-topology';
import { checkDomainCpus } from '../cpu/domain-cpu-check';
import { resolveVmCpuLayout, wantsCpuWork } from '../cpu/vm-cpu-layout';
import type { VmSettings } from '../daemon/config-schema';
import type { DomainRequest } from '../libvirt/domain-request';
import type { Gpu } from '../host/pci-device';
import { VFIO_DRIVER } from '../host/pci-device';
import { gpuCardAddresses } from '../host/viability';
import { fail, ok, warn, type Check } from './check';
import type { DomainPlatform } from './domain-platform';

export interface VmFacts {
  name: string;
  request: DomainRequest;
  platform: DomainPlatform;
  /** The VM's settings (metadata > config section > defaults), or the sentence saying why they are invalid. */
  settings: VmSettings | { error: string };
}

export interface VmHostFacts {
  gpus: Gpu[];
  /** Addresses of every PCI device of the host. */
  pciAddresses: string[];
  /** The host's CPUs, or null when sys/devices/system/cpu cannot be read. */
  cpuTopology: CpuTopology | null;
}

const HOSTDEV_SNIPPET = (address: string): string => {
  const [domain, bus, slotFn] = address.split(':');
  const [slot, fn] = slotFn.split('.');
  return `<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x${domain}' bus='0x${bus}' slot='0x${slot}' function='0x${fn}'/></source></hostdev>`;
};

/** The GPUs whose IOMMU groups the VM names (by a hostdev or in our metadata), in address order. */
export function gpusOfVm(request: DomainRequest, gpus: Gpu[]): Gpu[] {
  const named = new Set([...request.hostdevs.map((h) => h.address), ...request.metadataGpus]);
  return gpus.filter((gpu) => gpu.group.members.some((m) => named.has(m.address)));
}

export function checkVmGpus(vm: VmFacts, host: VmHostFacts): Check[] {
  const checks: Check[] = [];
  const present = new Set(host.pciAddresses);
  for (const address of [...vm.request.hostdevs.map((h) => h.address), ...vm.request.metadataGpus]) {
    if (!present.has(address)) {
      checks.push(fail(`vm.device.${address}`, `${vm.name} names PCI device ${address}, which this host does not have`, `virsh edit ${vm.name}: fix or remove ${address} (addresses: gpu-hookctl list)`));
    }
  }
  const mine = gpusOfVm(vm.request, host.gpus);
  if (mine.length === 0) {
    const example = host.gpus[0] ? `, e.g. ${HOSTDEV_SNIPPET(host.gpus[0].address)}` : '';
    checks.push(
      fail('vm.gpu', `${vm.name} is given no GPU: no <hostdev type='pci'> and no GPU in gpu-hookd's <metadata> belongs to a GPU's IOMMU group`, `virsh edit ${vm.name}: add a <hostdev> for the GPU inside <devices>${example}`),
    );
    return checks;
  }
  // What the domain names as its own, as the daemon reads it: its hostdevs and the GPUs of its metadata.
  const given = new Set([...vm.request.hostdevs.map((h) => h.address), ...vm.request.metadataGpus]);
  for (const gpu of mine) checks.push(checkVmGroup(vm.name, gpu, given));
  return checks;
}

/** Every function of the group must be given to the VM, moved by gpu-hookd (the GPU's own card),
 *  or already off host drivers; anything else makes the group unusable. */
function checkVmGroup(vmName: string, gpu: Gpu, given: Set<string>): Check {
  const card = new Set(gpuCardAddresses(gpu));
  const toVm: string[] = [];
  const moved: string[] = [];
  const blocking: string[] = [];
  for (const m of gpu.group.members) {
    if (m.isBridge) continue;
    if (given.has(m.address)) toVm.push(m.address);
    else if (card.has(m.address)) moved.push(m.address);
    else if (m.driver !== null && m.driver !== VFIO_DRIVER) blocking.push(`${m.address} (${m.name} on ${m.driver})`);
  }
  const id = `vm.group.${gpu.address}`;
  const head = `${gpu.address} (${gpu.name}), IOMMU group ${gpu.group.id}`;
  if (blocking.length) {
    return fail(
      id,
      `${head}: ${blocking.join(', ')} shares the group, is not the GPU's card and is on a host driver, so the group cannot go to ${vmName}`,
      `give ${vmName} that device too (virsh edit ${vmName}: a <hostdev mode='subsystem' type='pci'> for it), or move the card to a slot whose IOMMU group holds only the card (see "gpu-hookctl list")`,
    );
  }
  const parts = [`${toVm.join(', ') || 'nothing'} given to ${vmName}`];
  if (moved.length) parts.push(`${moved.join(', ')} moved to vfio-pci by gpu-hookd and kept from the host while ${vmName} runs`);
  return ok(id, `${head}: ${parts.join('; ')}`);
}

export function checkMachine(vm: VmFacts): Check {
  if (/q35/.test(vm.platform.machine)) return ok('vm.machine', `machine ${vm.platform.machine}`);
  const what = vm.platform.machine ? `machine ${vm.platform.machine}` : 'no machine type';
  return fail('vm.machine', `${vm.name} has ${what}, not q35: a GPU needs a PCIe slot, which only q35 has`, `create the VM with chipset Q35 (virt-install --machine q35; virt-manager: Overview, Chipset: Q35); the machine type of an installed guest cannot be switched safely`);
}

export function checkFirmware(vm: VmFacts): Check {
  if (vm.platform.uefi) return ok('vm.firmware', 'UEFI firmware (OVMF)');
  return fail('vm.firmware', `${vm.name} boots with BIOS (SeaBIOS): GPUs are initialised reliably only by UEFI firmware`, `virsh edit ${vm.name}: <os firmware='efi'> (needs the ovmf/edk2-ovmf package; a guest installed for BIOS must be reinstalled or converted)`);
}

export function checkCpuMode(vm: VmFacts): Check {
  if (vm.platform.cpuMode === 'host-passthrough') return ok('vm.cpu', 'CPU mode host-passthrough');
  const what = vm.platform.cpuMode ? `CPU mode ${vm.platform.cpuMode}` : 'no <cpu mode>';
  return fail('vm.cpu', `${vm.name} has ${what}: GPU drivers and games run best on the host's own CPU model`, `virsh edit ${vm.name}: <cpu mode='host-passthrough' check='none' migratable='on'/>`);
}

/** NVIDIA's consumer cards (GeForce, TITAN) refused to start under a hypervisor with guest drivers
 *  before 465 (Code 43); the seed's XML hides the hypervisor for them. Not needed with newer drivers. */
export function checkNvidiaHiding(vm: VmFacts, gpus: Gpu[]): Check | null {
  const consumer = gpus.find((g) => g.functions[0]?.vendorId === '10de' && (/geforce|titan/i.test(g.name) || /^10de:/i.test(g.name)));
  if (!consumer) return null;
  const missing: string[] = [];
  if (vm.platform.hypervVendorId === null) missing.push("<hyperv><vendor_id state='on' value='0123456789ab'/></hyperv>");
  if (!vm.platform.kvmHidden) missing.push("<kvm><hidden state='on'/></kvm>");
  if (vm.platform.ioapicDriver !== 'kvm') missing.push("<ioapic driver='kvm'/>");
  if (missing.length === 0) return ok('vm.nvidia', `${consumer.name}: hyperv vendor_id, kvm hidden and ioapic driver kvm set (what NVIDIA guest drivers before 465 need)`);
  return warn(
    'vm.nvidia',
    `${consumer.name} is an NVIDIA consumer card and ${vm.name} does not hide the hypervisor: NVIDIA guest drivers before 465 stop with Code 43`,
    `only for such drivers: virsh edit ${vm.name}, inside <features>: ${missing.join(' ')}`,
  );
}

/** vCPU pinning against CPU isolation, judged by the same code the daemon runs at prepare
 *  (resolveVmCpuLayout): a VM that would be refused then fails here, with the same sentence. */
export function checkCpuPinning(vm: VmFacts, topology: CpuTopology | null): Check {
  if ('error' in vm.settings) {
    return fail('vm.cpus', `${vm.name}'s gpu-hookd settings are invalid: ${vm.settings.error}`, `fix the VM's <metadata> (virsh edit ${vm.name}) or its section in the config`);
  }
  if (topology === null) {
    return warn('vm.cpus', `the host's CPUs cannot be read (sys/devices/system/cpu), so ${vm.name}'s vCPU pins were not checked`, 'run gpu-hookctl doctor on the host itself, with /sys mounted');
  }
  const s = vm.settings;
  const pinned = vm.request.cputune.vcpupins.length > 0;
  try {
    if (!wantsCpuWork(s)) {
      const domain = checkDomainCpus(vm.request, topology, null);
      if (!pinned) return ok('vm.cpus', 'no vCPU pinning or CPU isolation asked for');
      return ok('vm.cpus', `vCPUs pinned to CPUs ${formatCpuList([...domain.vcpuPins.values()].flat())}; no CPU isolation asked for, so host tasks may share them`);
    }
    const layout = resolveVmCpuLayout(vm.request, s, topology);
    const where = `${vm.name} runs on CPUs ${formatCpuList(layout.vmCpus)} and the host keeps ${formatCpuList(layout.housekeeping)}`;
    if (s.pin === 'auto' && layout.source === 'cputune') {
      return warn('vm.cpus', `${where}; pin is "auto" but the domain pins its own vCPUs (<vcpupin>), so gpu-hookd keeps those pins`, `keep one: remove the <vcpupin> elements (virsh edit ${vm.name}), or set pin to "none" for this VM`);
    }
    const how = layout.source === 'auto' ? 'pinned by gpu-hookd (pin "auto")' : `from the domain's ${layout.source === 'cputune' ? '<vcpupin>s' : layout.source === 'vcpu-cpuset' ? '<vcpu cpuset>' : 'housekeepingCpus'}`;
    return ok('vm.cpus', `${where} (${how})${s.isolateCpus ? '; host tasks are kept off the VM\'s CPUs while it runs' : ''}`);
  } catch (e) {
    if (!(e instanceof CpuError)) throw e;
    const cut = e.message.indexOf('; ');
    return cut < 0
      ? fail('vm.cpus', e.message, `virsh edit ${vm.name}, or change the VM's CPU settings in the config`)
      : fail('vm.cpus', e.message.slice(0, cut), e.message.slice(cut + 2));
  }
}

export function vmChecks(vm: VmFacts, host: VmHostFacts): Check[] {
  const mine = gpusOfVm(vm.request, host.gpus);
  const nvidia = checkNvidiaHiding(vm, mine);
  return [
    ...checkVmGpus(vm, host),
    checkMachine(vm),
    checkFirmware(vm),
    checkCpuMode(vm),
    ...(nvidia ? [nvidia] : []),
    checkCpuPinning(vm, host.cpuTopology),
  ];
}
