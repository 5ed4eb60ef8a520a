// The demo's VM: a domain XML shaped as `virsh dumpxml win10` prints it on a passthrough desktop,
// giving the VM every function of the GPU as a managed <hostdev> (what virt-manager writes when
// you add the card's PCI devices).

import type { GpuStatus } from '../cli/daemon-client';

export const DEMO_DOMAIN = 'win10';

export function demoDomainXml(gpu: Pick<GpuStatus, 'functions'>): string {
  const hostdevs = gpu.functions.map((address, i) => {
    const [domain, bus, slotFn] = address.split(':');
    const [slot, fn] = slotFn.split('.');
    const guestFunction = i === 0 ? `0x${i}' multifunction='on` : `0x${i}`;
    return [
      `    <hostdev mode='subsystem' type='pci' managed='yes'>`,
      `      <source>`,
      `        <address domain='0x${domain}' bus='0x${bus}' slot='0x${slot}' function='0x${fn}'/>`,
      `      </source>`,
      `      <address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='${guestFunction}'/>`,
      `    </hostdev>`,
    ].join('\n');
  });
  return `<domain type='kvm'>
  <name>${DEMO_DOMAIN}</name>
  <uuid>6f1d8a52-3c1e-4b8a-9d0e-2a7c5e9b1f40</uuid>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://microsoft.com/win/10"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='KiB'>16777216</memory>
  <vcpu placement='static'>8</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-8.1'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/edk2/x64/OVMF_CODE.fd</loader>
    <nvram>/var/lib/libvirt/qemu/nvram/win10_VARS.fd</nvram>
  </os>
  <features>
    <acpi/>
    <apic/>
    <kvm>
      <hidden state='on'/>
    </kvm>
  </features>
  <cpu mode='host-passthrough' check='none' migratable='on'>
    <topology sockets='1' dies='1' cores='4' threads='2'/>
  </cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${hostdevs.join('\n')}
  </devices>
</domain>
`;
}
