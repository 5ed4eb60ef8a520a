// The most common passthrough desktop: the Intel iGPU draws the desktop (boot VGA, i915, sddm's
// Xorg) and a GeForce GTX 1070 on nouveau waits for VMs. nouveau loaded first, so the GeForce is
// card0, renderD128 and fb0 (nouveau's fbdev emulation registers a framebuffer of its own); i915
// came next as card1, renderD129 and fb1, and fbcon moved to fb1, the boot VGA's
// (FRAMEBUFFER_CONSOLE_DETECT_PRIMARY). Passing the GeForce must leave the desktop and console alone.

import { ScenarioFile } from '../scenario';
import seed from './seed';

export default {
  name: 'igpu-nouveau',
  description: 'i7-9700K desktop: Intel UHD 630 (i915) for the desktop and console, GeForce GTX 1070 (nouveau, fb0) for VMs',
  kernel: { release: '6.6.8-arch1-1', cmdline: 'BOOT_IMAGE=/vmlinuz-linux root=/dev/nvme0n1p2 rw intel_iommu=on iommu=pt' },
  cpu: { vendor: 'intel', model: 'Intel(R) Core(TM) i7-9700K CPU @ 3.60GHz', coresPerSocket: 8, threadsPerCore: 1, governor: 'powersave', governors: ['performance', 'powersave'] },
  iommu: { groupType: 'DMA-FQ' },
  vfio: { loaded: true },
  modules: [
    // The seed's nouveau stack.
    ...seed.modules.filter((m) => ['drm', 'drm_kms_helper', 'ttm', 'nouveau'].includes(m.name)),
    { name: 'i915', deps: ['drm_kms_helper', 'drm'], drivers: [{ name: 'i915', ids: ['8086:3e98'], drm: { fbdev: true, fbName: 'i915drmfb', renderNode: true } }] },
    { name: 'snd_hda_intel', drivers: [{ name: 'snd_hda_intel', ids: ['8086:a348', '*:*:0403'], probeDelayMs: 300 }] },
    { name: 'xhci_pci', drivers: [{ name: 'xhci_hcd', ids: ['*:*:0c0330'] }] },
    { name: 'nvme', drivers: [{ name: 'nvme', ids: ['*:*:010802'] }] },
  ],
  devices: [
    { address: '0000:00:00.0', vendor: '8086', device: '3e30', class: '060000', iommuGroup: 0, label: '8th/9th Gen Core host bridge' },
    { address: '0000:00:01.0', vendor: '8086', device: '1901', class: '060400', iommuGroup: 1, driver: 'pcieport', irq: 122, label: 'PCIe root port x16 (the GPU slot)' },
    // Listed (and bound at boot) before the iGPU: nouveau loaded first.
    { address: '0000:01:00.0', vendor: '10de', device: '1b81', subsystemVendor: '1462', subsystemDevice: '3301', class: '030000', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 13, driver: 'nouveau', irq: 142, label: 'GP104 [GeForce GTX 1070]' },
    { address: '0000:01:00.1', vendor: '10de', device: '10f0', subsystemVendor: '1462', subsystemDevice: '3301', class: '040300', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 13, driver: 'snd_hda_intel', irq: 17, label: 'GP104 High Definition Audio Controller' },
    { address: '0000:00:02.0', vendor: '8086', device: '3e98', subsystemVendor: '1458', subsystemDevice: 'd000', class: '030000', revision: '02', iommuGroup: 2, driver: 'i915', bootVga: true, irq: 141, label: 'CoffeeLake-S GT2 [UHD Graphics 630]' },
    { address: '0000:00:14.0', vendor: '8086', device: 'a36d', class: '0c0330', iommuGroup: 3, driver: 'xhci_hcd', irq: 124, label: 'Cannon Lake PCH USB 3.1 xHCI' },
    { address: '0000:00:1b.0', vendor: '8086', device: 'a340', class: '060400', iommuGroup: 6, driver: 'pcieport', irq: 126, label: 'Cannon Lake PCH PCIe root port #17' },
    { address: '0000:02:00.0', vendor: '144d', device: 'a808', class: '010802', parent: '0000:00:1b.0', iommuGroup: 14, driver: 'nvme', irq: 16, label: 'Samsung 970 EVO Plus NVMe' },
    { address: '0000:00:1f.3', vendor: '8086', device: 'a348', class: '040300', iommuGroup: 10, driver: 'snd_hda_intel', irq: 148, label: 'Cannon Lake PCH cAVS (onboard audio)' },
  ],
  firmwareFramebuffer: { kind: 'efi-framebuffer', state: 'removed' },
  consoles: { fbcon: true, vtconsoles: ['(S) dummy device', '(M) frame buffer device'] },
  processes: [
    { pid: 1, comm: 'systemd', cmdline: ['/sbin/init'] },
    { pid: 812, comm: 'sddm', cmdline: ['/usr/bin/sddm'] },
    { pid: 845, comm: 'Xorg', cmdline: ['/usr/lib/Xorg', '-nolisten', 'tcp', 'vt1'], fds: ['/dev/dri/card1', '/dev/dri/renderD129'] },
  ],
  displayManager: { unit: 'display-manager.service', name: 'sddm' },
  irqs: [0, 1, 8, 9],
} satisfies ScenarioFile;
