// The real-kernel lab's guest (docs/lab.md, docs/kernel-facts.md) as scenarios, and a dump of its
// observable state in the same shape as the guest's /init prints it, so the emulator's answers can
// be compared line for line with what Debian's 6.1 kernel showed.

import { HostIO } from '../../../src/host/host-io';
import { FBCON_NAME, ScenarioFile } from '../../../src/sim/scenario';

const guestDevices = (gpuDriver: string | null): ScenarioFile['devices'] => [
  { address: '0000:00:00.0', vendor: '8086', device: '29c0', class: '060000', iommuGroup: 0 },
  { address: '0000:00:01.0', vendor: '1b36', device: '000c', class: '060400', iommuGroup: 1, driver: 'pcieport' },
  { address: '0000:00:1f.0', vendor: '8086', device: '2918', class: '060100', iommuGroup: 2 },
  { address: '0000:00:1f.2', vendor: '8086', device: '2922', class: '010601', iommuGroup: 2 },
  { address: '0000:00:1f.3', vendor: '8086', device: '2930', class: '0c0500', iommuGroup: 2 },
  { address: '0000:01:00.0', vendor: '1234', device: '1111', class: '030000', parent: '0000:00:01.0', iommuGroup: 3, driver: gpuDriver, bootVga: true },
  { address: '0000:01:00.1', vendor: '8086', device: '293e', class: '040300', parent: '0000:00:01.0', iommuGroup: 3, driver: 'snd_hda_intel' },
];

const guestModules = (bochsLoaded: boolean): NonNullable<ScenarioFile['modules']> => [
  { name: 'bochs', loaded: bochsLoaded, drivers: [{ name: 'bochs-drm', ids: ['1234:1111'], drm: { fbdev: true, fbName: 'bochs-drmdrmfb', renderNode: false } }] },
  { name: 'snd_hda_intel', drivers: [{ name: 'snd_hda_intel', ids: ['*:*:0403'], probeDelayMs: 40 }] },
];

/** SeaBIOS + bochs-drm: fbcon on the GPU's framebuffer at vtcon0, the dummy console at vtcon1. */
export const seabiosBochs: ScenarioFile = {
  name: 'test-seabios-bochs',
  description: 'lab guest under SeaBIOS with bochs-drm and fbcon',
  kernel: { release: '6.1.0-56-amd64', cmdline: 'console=ttyS0 intel_iommu=on iommu=pt panic=-1 quiet' },
  cpu: { vendor: 'intel', model: 'QEMU TCG', coresPerSocket: 2, threadsPerCore: 1 },
  iommu: { groupType: 'identity' },
  modules: guestModules(true),
  devices: guestDevices('bochs-drm'),
  consoles: { fbcon: true, vtconsoles: [FBCON_NAME, '(M) dummy device'] },
};

/** OVMF with no DRM driver: efifb scans out of the boot VGA (fb0 "EFI VGA"), fbcon at vtcon1. */
export const ovmfEfifb: ScenarioFile = {
  ...seabiosBochs,
  name: 'test-ovmf-efifb',
  description: 'lab guest under OVMF: efifb on the boot VGA, no DRM driver',
  kernel: { release: '6.1.0-56-amd64', cmdline: 'console=ttyS0 intel_iommu=on iommu=pt panic=-1 quiet gpudrv=0' },
  modules: guestModules(false),
  devices: guestDevices(null),
  firmwareFramebuffer: { kind: 'efi-framebuffer', state: 'bound-with-fb' },
  consoles: { fbcon: true, vtconsoles: ['(S) dummy device', FBCON_NAME] },
};

/** The console part of the guest's dump(), one string per line as /init prints it. */
export function consoleDump(io: HostIO): string[] {
  const lines = io.list('sys/class/vtconsole').map((v) => `${v} bind=${io.readText(`sys/class/vtconsole/${v}/bind`)} name=${io.readText(`sys/class/vtconsole/${v}/name`)}`);
  const fb = (io.readText('proc/fb') ?? '').split('\n').filter((l) => l !== '');
  lines.push(`/proc/fb: ${fb.map((l) => `${l};`).join('')}`);
  for (const f of io.list('sys/class/graphics').filter((g) => /^fb\d+$/.test(g))) {
    lines.push(`${f} -> ${io.readLinkName(`sys/class/graphics/${f}/device`)}`);
  }
  lines.push(`/dev/dri: ${io.exists('dev/dri') ? io.list('dev/dri').filter((e) => e !== 'by-path').join(' ') : 'absent'}`);
  lines.push(`platform fb devices: ${io.list('sys/bus/platform/devices').filter((d) => /framebuffer/.test(d)).join(' ')}`);
  lines.push(`/dev/vfio: ${io.list('dev/vfio').join(' ')}`);
  return lines;
}

/** driver / override of each PCI device, as the guest's dump() prints them. */
export function pciDump(io: HostIO, addresses: string[]): string[] {
  return addresses.map((a) => {
    const base = `sys/bus/pci/devices/${a}`;
    return `${a} driver=${io.readLinkName(`${base}/driver`) ?? 'none'} group=${io.readLinkName(`${base}/iommu_group`)} override=${io.readText(`${base}/driver_override`)}`;
  });
}
