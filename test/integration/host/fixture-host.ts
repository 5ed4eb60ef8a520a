// Small host trees for discovery tests, laid out as the kernel lays out sysfs (device directories
// under sys/devices, symlinks from sys/bus/pci/devices, driver/iommu_group/module links), so the
// cases the simulated host's scenarios do not cover (no IOMMU, odd config space) can be built.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertSafeTestRoot } from '../../support/temp-root';

export interface FixtureDevice {
  address: string;
  id: string; // "10de:1f08"
  subsystem?: string; // "1043:86d2"
  classCode: string; // "030000"
  /** Config space byte 0x0e as the kernel shows it (0x80 = multi-function). */
  headerByte?: number;
  /** Leave out the config file, as if config space were unreadable. */
  noConfig?: boolean;
  /** An SR-IOV virtual function: its config space reads vendor and device ffff; the attributes name it. */
  virtualFunction?: boolean;
  driver?: string;
  module?: string;
  override?: string;
  bootVga?: boolean;
  group?: string;
}

export interface FixtureHost {
  devices: FixtureDevice[];
  cmdline?: string;
  cpuFlags?: string;
  loadedModules?: string[];
  devVfio?: boolean;
  osRelease?: string;
  builtinModules?: string[];
  loadableModules?: string[];
  pciIds?: string;
}

export function writeFixtureHost(root: string, host: FixtureHost): void {
  assertSafeTestRoot(root);
  const put = (rel: string, content: string | Buffer): void => {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  };
  const link = (rel: string, target: string): void => {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.symlinkSync(target, file);
  };
  fs.mkdirSync(path.join(root, 'sys/kernel/iommu_groups'), { recursive: true });
  fs.mkdirSync(path.join(root, 'sys/bus/pci/devices'), { recursive: true });
  for (const d of host.devices) {
    const dev = `sys/devices/pci0000:00/${d.address}`;
    const [vendor, device] = d.id.split(':');
    put(`${dev}/vendor`, `0x${vendor}\n`);
    put(`${dev}/device`, `0x${device}\n`);
    const [subVendor, subDevice] = (d.subsystem ?? '0000:0000').split(':');
    put(`${dev}/subsystem_vendor`, `0x${subVendor}\n`);
    put(`${dev}/subsystem_device`, `0x${subDevice}\n`);
    put(`${dev}/class`, `0x${d.classCode}\n`);
    put(`${dev}/driver_override`, `${d.override ?? '(null)'}\n`);
    // The kernel shows boot_vga on VGA-class devices only.
    if (d.classCode.startsWith('0300')) put(`${dev}/boot_vga`, d.bootVga ? '1\n' : '0\n');
    if (!d.noConfig) {
      // The first 64 bytes of config space, as consistent with the attributes as the kernel's.
      const config = Buffer.alloc(64);
      config.writeUInt16LE(d.virtualFunction ? 0xffff : parseInt(vendor, 16), 0);
      config.writeUInt16LE(d.virtualFunction ? 0xffff : parseInt(device, 16), 2);
      config.writeUIntLE(parseInt(d.classCode, 16), 0x09, 3);
      config[0x0e] = d.headerByte ?? 0;
      if (((d.headerByte ?? 0) & 0x7f) === 0) {
        config.writeUInt16LE(parseInt(subVendor, 16), 0x2c);
        config.writeUInt16LE(parseInt(subDevice, 16), 0x2e);
      }
      put(`${dev}/config`, config);
    }
    link(`sys/bus/pci/devices/${d.address}`, `../../../devices/pci0000:00/${d.address}`);
    if (d.driver) {
      const drv = `sys/bus/pci/drivers/${d.driver}`;
      if (!fs.existsSync(path.join(root, drv))) {
        fs.mkdirSync(path.join(root, drv), { recursive: true });
        if (d.module) {
          fs.mkdirSync(path.join(root, 'sys/module', d.module), { recursive: true });
          link(`${drv}/module`, `../../../../module/${d.module}`);
        }
      }
      link(`${dev}/driver`, `../../../bus/pci/drivers/${d.driver}`);
    }
    if (d.group !== undefined) {
      link(`${dev}/iommu_group`, `../../../kernel/iommu_groups/${d.group}`);
      link(`sys/kernel/iommu_groups/${d.group}/devices/${d.address}`, `../../../../devices/pci0000:00/${d.address}`);
    }
  }
  put('proc/cmdline', `${host.cmdline ?? 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 intel_iommu=on iommu=pt'}\n`);
  put('proc/cpuinfo', `processor\t: 0\nflags\t\t: ${host.cpuFlags ?? 'fpu vme de pse vmx sse'}\n\n`);
  put('proc/modules', (host.loadedModules ?? []).map((m) => `${m} 16384 0 - Live 0x0000000000000000\n`).join(''));
  put('proc/sys/kernel/osrelease', `${host.osRelease ?? '6.1.0-test'}\n`);
  const modDir = `lib/modules/${host.osRelease ?? '6.1.0-test'}`;
  put(`${modDir}/modules.builtin`, (host.builtinModules ?? []).map((m) => `kernel/drivers/${m}.ko\n`).join(''));
  put(`${modDir}/modules.dep`, (host.loadableModules ?? []).map((m) => `kernel/drivers/${m}.ko.xz:\n`).join(''));
  if (host.devVfio) put('dev/vfio/vfio', '');
  if (host.pciIds !== undefined) put('usr/share/misc/pci.ids', host.pciIds);
}

/** pci.ids lines for the seed's RTX 2060 card and an Intel NIC. */
export const FIXTURE_PCI_IDS = [
  '# test fixture',
  '10de  NVIDIA Corporation',
  '\t10f9  TU106 High Definition Audio Controller',
  '\t1ada  TU106 USB 3.1 Host Controller',
  '\t1adb  TU106 USB Type-C UCSI Controller',
  '\t1f08  TU106 [GeForce RTX 2060 Rev. A]',
  '\t\t1043 86d2  ROG Strix RTX 2060',
  '8086  Intel Corporation',
  '\t1539  I211 Gigabit Network Connection',
  '\t1901  6th-10th Gen Core Processor PCIe Controller (x16)',
  '',
].join('\n');

/** The seed host's GPU: four functions in group 1 behind a bridge in group 0. */
export function seedLikeHost(): FixtureHost {
  return {
    devices: [
      { address: '0000:00:01.0', id: '8086:1901', classCode: '060400', headerByte: 0x81, driver: 'pcieport', group: '0' },
      { address: '0000:01:00.0', id: '10de:1f08', subsystem: '1043:86d2', classCode: '030000', headerByte: 0x80, driver: 'nouveau', module: 'nouveau', bootVga: true, group: '1' },
      { address: '0000:01:00.1', id: '10de:10f9', classCode: '040300', headerByte: 0x80, driver: 'snd_hda_intel', module: 'snd_hda_intel', group: '1' },
      { address: '0000:01:00.2', id: '10de:1ada', classCode: '0c0330', headerByte: 0x80, driver: 'xhci_hcd', module: 'xhci_pci', group: '1' },
      { address: '0000:01:00.3', id: '10de:1adb', classCode: '0c8000', headerByte: 0x80, driver: 'nvidia-gpu', module: 'i2c_nvidia_gpu', group: '1' },
      { address: '0000:02:00.0', id: '8086:1539', classCode: '020000', driver: 'igb', module: 'igb', group: '2' },
    ],
    loadedModules: ['nouveau', 'snd_hda_intel', 'xhci_pci', 'i2c_nvidia_gpu', 'igb'],
    loadableModules: ['vfio/pci/vfio-pci'],
    pciIds: FIXTURE_PCI_IDS,
  };
}
