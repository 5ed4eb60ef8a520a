// The lab's nested VM as a libvirt domain: q35 under TCG, 64 MB, the workload as its multiboot kernel,
// both functions of the card as <hostdev>s on the root bus (the workload scans bus 0), serial to a file.
// The libvirt-in-guest boot and the system lab define it.

export interface LabDomain {
  name: string;
  /** The workload ELF, as the guest's libvirt sees it. */
  kernel: string;
  serialLog: string;
  /** PCI addresses of the functions handed to the VM, in order: 0000:01:00.0 goes to slot 2, the next to 3. */
  hostdevs: string[];
  managed: 'yes' | 'no';
}

export function labDomainXml(d: LabDomain): string {
  const hostdev = (address: string, slot: number): string => {
    const [domain, bus, devfn] = address.split(':');
    const [device, fn] = devfn.split('.');
    return `    <hostdev mode='subsystem' type='pci' managed='${d.managed}'>
      <source><address domain='0x${domain}' bus='0x${bus}' slot='0x${device}' function='0x${fn}'/></source>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x${slot.toString(16).padStart(2, '0')}' function='0x0'/>
    </hostdev>`;
  };
  return `<domain type='qemu'>
  <name>${d.name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>${d.kernel}</kernel></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <serial type='file'><source path='${d.serialLog}'/><target port='0'/></serial>
${d.hostdevs.map((a, i) => hostdev(a, 2 + i)).join('\n')}
  </devices>
</domain>
`;
}
