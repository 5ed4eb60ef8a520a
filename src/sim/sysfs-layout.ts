// Where things live in the simulated tree: the same places the kernel puts them. One function per
// kind of path so that the builder and the emulator cannot disagree.

import { PciDeviceSpec } from './scenario';

/** sys/devices path of a PCI device: pci<domain>:<bus>/<each upstream bridge>/<address>. */
export function pciDeviceDir(address: string, byAddress: ReadonlyMap<string, PciDeviceSpec>): string {
  const chain: string[] = [];
  for (let a: string | null = address; a !== null; a = byAddress.get(a)?.parent ?? null) chain.unshift(a);
  const top = chain[0];
  return `sys/devices/pci${top.slice(0, 4)}:${top.slice(5, 7)}/${chain.join('/')}`;
}

export const pciBusDevice = (address: string) => `sys/bus/pci/devices/${address}`;
export const pciDriverDir = (driver: string) => `sys/bus/pci/drivers/${driver}`;
export const moduleDir = (module: string) => `sys/module/${module}`;
export const iommuGroupDir = (group: number | string) => `sys/kernel/iommu_groups/${group}`;
export const vfioGroupNode = (group: number | string) => `dev/vfio/${group}`;
export const vtconDir = (index: number) => `sys/devices/virtual/vtconsole/vtcon${index}`;
export const vtconClassLink = (index: number) => `sys/class/vtconsole/vtcon${index}`;
export const fbClassLink = (index: number) => `sys/class/graphics/fb${index}`;
export const platformDeviceDir = (name: string) => `sys/devices/platform/${name}`;
export const platformBusDevice = (name: string) => `sys/bus/platform/devices/${name}`;
export const platformDriverDir = (driver: string) => `sys/bus/platform/drivers/${driver}`;
export const cpuDir = (cpu: number) => `sys/devices/system/cpu/cpu${cpu}`;

/** The firmware framebuffer's platform device name for its kind ("efi-framebuffer.0"). */
export const firmwareFbDevice = (kind: string) => `${kind}.0`;

/** Cpu lists are printed as the kernel prints them; one formatter for the daemon and the simulator. */
export { formatCpuList } from '../cpu/cpu-list';

/** Parses "0-3,8,10-11"; null when malformed. */
export function parseCpuList(text: string): number[] | null {
  const t = text.trim();
  if (t === '') return [];
  const out: number[] = [];
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 8192) return null;
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}
