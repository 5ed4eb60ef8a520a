// A desktop with two GPUs: the Intel iGPU drives the desktop (boot VGA, i915, fbcon) and an NVIDIA
// RTX 3060 on the proprietary driver stack is the one for VMs. Detaching the RTX must leave the
// desktop, its framebuffer and console untouched. Hybrid CPU (8 P-cores with 2 threads, 4 E-cores).

import { ScenarioFile } from '../scenario';

export default {
  name: 'two-gpu',
  description: 'i7-12700K desktop: Intel UHD 770 for the desktop, NVIDIA RTX 3060 (nvidia driver) for VMs',
  kernel: { release: '6.6.8-arch1-1', cmdline: 'BOOT_IMAGE=/vmlinuz-linux root=/dev/nvme0n1p2 rw intel_iommu=on iommu=pt nvidia_drm.modeset=1' },
  cpu: { vendor: 'intel', model: '12th Gen Intel(R) Core(TM) i7-12700K', hybrid: { performanceCores: 8, efficiencyCores: 4 }, governor: 'powersave', governors: ['performance', 'powersave'] },
  iommu: { groupType: 'DMA-FQ' },
  vfio: { loaded: true },
  modules: [
    { name: 'drm' },
    { name: 'drm_kms_helper', deps: ['drm'] },
    { name: 'i915', deps: ['drm_kms_helper', 'drm'], drivers: [{ name: 'i915', ids: ['8086:4680', '8086:4690'], drm: { fbdev: true, fbName: 'i915drmfb', renderNode: true } }] },
    { name: 'nvidia', drivers: [{ name: 'nvidia', ids: ['10de:*:03'], drm: { fbdev: false, renderNode: true, removesFirmwareFb: false } }] },
    { name: 'nvidia_modeset', deps: ['nvidia'] },
    { name: 'nvidia_uvm', deps: ['nvidia'] },
    { name: 'nvidia_drm', deps: ['nvidia_modeset', 'drm_kms_helper', 'drm'] },
    { name: 'snd_hda_intel', drivers: [{ name: 'snd_hda_intel', ids: ['8086:7ad0', '*:*:0403'], probeDelayMs: 300 }] },
    { name: 'xhci_pci', drivers: [{ name: 'xhci_hcd', ids: ['*:*:0c0330'] }] },
    { name: 'nvme', drivers: [{ name: 'nvme', ids: ['*:*:010802'] }] },
    { name: 'ahci', drivers: [{ name: 'ahci', ids: ['*:*:0106'] }] },
    { name: 'e1000e', drivers: [{ name: 'e1000e', ids: ['8086:1a1c'] }] },
    { name: 'i2c_i801', drivers: [{ name: 'i801_smbus', ids: ['8086:7aa3'] }] },
  ],
  devices: [
    { address: '0000:00:00.0', vendor: '8086', device: '4668', class: '060000', iommuGroup: 0, label: '12th Gen Core host bridge' },
    { address: '0000:00:02.0', vendor: '8086', device: '4680', subsystemVendor: '1462', subsystemDevice: '7d25', class: '030000', revision: '0c', iommuGroup: 2, driver: 'i915', bootVga: true, irq: 151, label: 'AlderLake-S GT1 [UHD Graphics 770]' },
    { address: '0000:00:01.0', vendor: '8086', device: '460d', class: '060400', iommuGroup: 1, driver: 'pcieport', irq: 120, label: 'PCIe x16 root port' },
    { address: '0000:01:00.0', vendor: '10de', device: '2503', subsystemVendor: '1462', subsystemDevice: '397d', class: '030000', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 16, driver: 'nvidia', irq: 150, label: 'GA106 [GeForce RTX 3060]' },
    { address: '0000:01:00.1', vendor: '10de', device: '228e', subsystemVendor: '1462', subsystemDevice: '397d', class: '040300', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 16, driver: 'snd_hda_intel', irq: 17, label: 'GA106 High Definition Audio Controller' },
    { address: '0000:00:06.0', vendor: '8086', device: '464d', class: '060400', iommuGroup: 3, driver: 'pcieport', irq: 121, label: 'PCIe x4 root port (CPU)' },
    { address: '0000:02:00.0', vendor: '144d', device: 'a80a', class: '010802', parent: '0000:00:06.0', iommuGroup: 17, driver: 'nvme', irq: 16, label: 'Samsung 980 PRO NVMe' },
    { address: '0000:00:14.0', vendor: '8086', device: '7ae0', class: '0c0330', iommuGroup: 5, driver: 'xhci_hcd', irq: 122, label: 'Alder Lake-S PCH USB 3.2 xHCI' },
    { address: '0000:00:17.0', vendor: '8086', device: '7ae2', class: '010601', iommuGroup: 7, driver: 'ahci', irq: 123, label: 'Alder Lake-S PCH SATA' },
    { address: '0000:00:1f.0', vendor: '8086', device: '7a84', class: '060100', iommuGroup: 13, label: 'Z690 LPC' },
    { address: '0000:00:1f.3', vendor: '8086', device: '7ad0', class: '040300', iommuGroup: 13, driver: 'snd_hda_intel', irq: 152, label: 'Alder Lake-S HD Audio' },
    { address: '0000:00:1f.4', vendor: '8086', device: '7aa3', class: '0c0500', iommuGroup: 13, driver: 'i801_smbus', irq: 16, label: 'Alder Lake-S PCH SMBus' },
    { address: '0000:00:1f.6', vendor: '8086', device: '1a1c', class: '020000', iommuGroup: 14, driver: 'e1000e', irq: 153, label: 'Ethernet I219-V' },
  ],
  firmwareFramebuffer: { kind: 'efi-framebuffer', state: 'removed' },
  consoles: { fbcon: true, vtconsoles: ['(S) dummy device', '(M) frame buffer device'] },
  processes: [
    { pid: 1, comm: 'systemd', cmdline: ['/sbin/init'] },
    { pid: 700, comm: 'nvidia-persistenced', cmdline: ['/usr/bin/nvidia-persistenced', '--user', 'nvidia-persistenced'], fds: ['/dev/nvidiactl', '/dev/nvidia0'] },
    { pid: 812, comm: 'sddm', cmdline: ['/usr/bin/sddm'] },
    { pid: 845, comm: 'Xorg', cmdline: ['/usr/lib/Xorg', 'vt1'], fds: ['/dev/dri/card0', '/dev/dri/renderD128'] },
  ],
  displayManager: { unit: 'display-manager.service', name: 'sddm' },
  irqs: [0, 1, 8, 9],
} satisfies ScenarioFile;
