// The real-kernel lab's guest (test/lab, docs/lab.md) as the simulator sees it: Debian's 6.1 kernel
// under QEMU q35 with an emulated Intel IOMMU (iommu=pt), SeaBIOS, and a GPU-like card behind a PCIe
// root port: bochs VGA at 01:00.0 (bochs-drm, fbcon on it) and an ICH9 HDA controller at 01:00.1.
// Three virtio 9p devices carry the lab's shares. Modules and their dependencies are the guest's
// own (modinfo of that kernel), so /proc/modules reads the same. The other lab-* scenarios reuse the
// parts exported here.

import { ScenarioFile } from '../scenario';

type ModuleEntry = NonNullable<ScenarioFile['modules']>[number];
type DeviceEntry = ScenarioFile['devices'][number];

const mod = (name: string, deps: string[] = [], drivers?: ModuleEntry['drivers']): ModuleEntry => (drivers ? { name, deps, drivers } : { name, deps });

/** The guest's kernel, CPU and IOMMU (iommu=pt makes every group "identity"). */
export const labGuest: Pick<ScenarioFile, 'kernel' | 'cpu' | 'iommu'> = {
  kernel: { release: '6.1.0-56-amd64', cmdline: 'console=ttyS0 intel_iommu=on iommu=pt panic=-1 quiet' },
  cpu: { vendor: 'intel', model: 'QEMU TCG CPU version 2.5+', coresPerSocket: 2, threadsPerCore: 1 },
  iommu: { groupType: 'identity' },
};

/** What every lab guest loads: VFIO, the virtio transport and 9p for the shares. */
export const labBaseModules: ModuleEntry[] = [
  mod('vfio'),
  mod('vfio_iommu_type1', ['vfio']),
  mod('vfio_virqfd'),
  mod('irqbypass'),
  mod('vfio_pci_core', ['vfio', 'vfio_virqfd', 'irqbypass']),
  // vfio-pci binds only through driver_override (no id table).
  mod('vfio_pci', ['vfio_pci_core', 'vfio'], [{ name: 'vfio-pci', ids: [] }]),
  mod('virtio_ring'),
  mod('virtio', ['virtio_ring']),
  mod('virtio_pci_legacy_dev'),
  mod('virtio_pci_modern_dev'),
  mod('virtio_pci', ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio'], [{ name: 'virtio-pci', ids: ['1af4:*'] }]),
  mod('netfs'),
  mod('fscache', ['netfs']),
  mod('9pnet'),
  mod('9p', ['9pnet', 'fscache', 'netfs']),
  mod('9pnet_virtio', ['virtio', '9pnet', 'virtio_ring']),
];

/** snd_hda_intel and what it needs; it binds asynchronously (its driver link can appear late). */
export const labAudioModules: ModuleEntry[] = [
  mod('soundcore'),
  mod('snd', ['soundcore']),
  mod('snd_timer', ['snd']),
  mod('snd_pcm', ['snd', 'snd_timer']),
  mod('snd_hwdep', ['snd']),
  mod('snd_hda_core', ['snd_pcm']),
  mod('snd_hda_codec', ['snd_hda_core', 'snd_pcm', 'snd', 'snd_hwdep']),
  mod('ledtrig_audio'),
  mod('snd_hda_codec_generic', ['snd_hda_codec', 'snd_hda_core', 'snd', 'ledtrig_audio']),
  mod('snd_intel_sdw_acpi'),
  mod('snd_intel_dspcfg', ['snd_intel_sdw_acpi']),
  mod('snd_hda_intel', ['snd_hda_core', 'snd_hda_codec', 'snd', 'snd_intel_dspcfg', 'snd_pcm'], [
    { name: 'snd_hda_intel', ids: ['*:*:0403'], probeDelayMs: 20 },
  ]),
];

export const labBochsModules: ModuleEntry[] = [
  mod('drm'),
  mod('drm_kms_helper', ['drm']),
  mod('ttm', ['drm']),
  mod('drm_ttm_helper', ['drm', 'ttm']),
  mod('drm_vram_helper', ['ttm', 'drm', 'drm_ttm_helper', 'drm_kms_helper']),
  mod('bochs', ['drm_kms_helper', 'drm', 'drm_vram_helper', 'drm_ttm_helper'], [
    { name: 'bochs-drm', ids: ['1234:1111'], drm: { fbdev: true, fbName: 'bochs-drmdrmfb', renderNode: false } },
  ]),
];

/** q35's own devices, the GPU slot's root port and the three 9p devices, with the guest's group numbers. */
export function labChipset(extraRootPorts: DeviceEntry[] = []): DeviceEntry[] {
  const firstShareSlot = 2 + extraRootPorts.length;
  const shares = [0, 1, 2].map((i): DeviceEntry => {
    const slot = (firstShareSlot + i).toString(16).padStart(2, '0');
    return { address: `0000:00:${slot}.0`, vendor: '1af4', device: '1009', class: '000200', iommuGroup: firstShareSlot + i, driver: 'virtio-pci', label: `virtio 9p share ${['project', 'sysroot', 'out'][i]}` };
  });
  const lpcGroup = firstShareSlot + 3;
  return [
    { address: '0000:00:00.0', vendor: '8086', device: '29c0', class: '060000', iommuGroup: 0, label: 'q35 host bridge' },
    { address: '0000:00:01.0', vendor: '1b36', device: '000c', class: '060400', iommuGroup: 1, driver: 'pcieport', label: 'PCIe root port of the GPU slot' },
    ...extraRootPorts,
    ...shares,
    { address: '0000:00:1f.0', vendor: '8086', device: '2918', class: '060100', iommuGroup: lpcGroup, label: 'ICH9 LPC' },
    { address: '0000:00:1f.2', vendor: '8086', device: '2922', class: '010601', iommuGroup: lpcGroup, label: 'ICH9 AHCI (no driver loaded)' },
    { address: '0000:00:1f.3', vendor: '8086', device: '2930', class: '0c0500', iommuGroup: lpcGroup, label: 'ICH9 SMBus' },
  ];
}

/** The GPU-like card: display at 01:00.0, HDA at 01:00.1, one IOMMU group. */
/** `display.reset`: the display's reset capabilities, as the guest's reset_method shows them (default:
 *  QEMU's VGA, whose only method is the bus reset the kernel lists for the first function on the
 *  bus); QEMU's ich9-intel-hda has neither FLR nor a PM capability (its reset_method is absent). */
export function labGpuCard(display: { vendor: string; device: string; driver: string | null; reset?: DeviceEntry['reset'] }, group: number): DeviceEntry[] {
  return [
    { address: '0000:01:00.0', vendor: display.vendor, device: display.device, class: '030000', parent: '0000:00:01.0', iommuGroup: group, driver: display.driver, bootVga: true, label: 'GPU-like display function', reset: display.reset ?? { pm: false } },
    { address: '0000:01:00.1', vendor: '8086', device: '293e', class: '040300', parent: '0000:00:01.0', iommuGroup: group, driver: 'snd_hda_intel', label: 'its HDA audio function', reset: { pm: false } },
  ];
}

export default {
  name: 'lab-seabios-bochs',
  description: 'The lab guest: SeaBIOS, bochs VGA on bochs-drm with fbcon + HDA at 01:00.1, one IOMMU group (Debian 6.1 under QEMU)',
  ...labGuest,
  modules: [...labBaseModules, ...labAudioModules, ...labBochsModules],
  devices: [...labChipset(), ...labGpuCard({ vendor: '1234', device: '1111', driver: 'bochs-drm' }, 6)],
  firmwareFramebuffer: { kind: 'none' },
  // vgacon handed the consoles to fbcon when bochs-drm registered its framebuffer.
  consoles: { fbcon: true, vtconsoles: ['(M) frame buffer device', '(M) dummy device'] },
} satisfies ScenarioFile;
