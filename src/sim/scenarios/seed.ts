// The seed's host: the machine the original passthrough guide was written on. An 8-core/16-thread
// desktop whose only GPU, an RTX 2060 with four functions (VGA, HDMI audio, USB-C xHCI, USB-C UCSI),
// sits in one IOMMU group behind its root port and drives the console (boot VGA, nouveau, fbcon).
// The firmware booted it on efifb; nouveau, binding the boot VGA, removed efi-framebuffer.0 as every
// 6.x kernel does (sysfb disabled), so fbcon sits on nouveaudrmfb and there is no efifb to unbind.

import { ScenarioFile } from '../scenario';

export default {
  name: 'seed',
  description: 'Desktop with one NVIDIA RTX 2060 (4 functions, one IOMMU group) driving the console; i9-9900K 8c/16t',
  kernel: {
    release: '6.6.8-arch1-1',
    cmdline: 'BOOT_IMAGE=/vmlinuz-linux root=UUID=6c1e0b7e-4a41-4f0e-9d8e-3b1f2a9c5d10 rw intel_iommu=on iommu=pt quiet',
  },
  cpu: { vendor: 'intel', model: 'Intel(R) Core(TM) i9-9900K CPU @ 3.60GHz', coresPerSocket: 8, threadsPerCore: 2, governor: 'powersave', governors: ['performance', 'powersave'] },
  iommu: { groupType: 'DMA-FQ' },
  vfio: { loaded: true },
  modules: [
    { name: 'drm', deps: [] },
    { name: 'drm_kms_helper', deps: ['drm'] },
    { name: 'ttm', deps: ['drm'] },
    { name: 'nouveau', deps: ['drm_kms_helper', 'ttm', 'drm'], drivers: [{ name: 'nouveau', ids: ['10de:*:03'], drm: { fbdev: true, fbName: 'nouveaudrmfb', renderNode: true } }] },
    { name: 'snd_hda_intel', drivers: [{ name: 'snd_hda_intel', ids: ['8086:a348', '*:*:0403'], probeDelayMs: 300 }] },
    { name: 'xhci_pci', drivers: [{ name: 'xhci_hcd', ids: ['*:*:0c0330'] }] },
    { name: 'i2c_nvidia_gpu', drivers: [{ name: 'nvidia-gpu', ids: ['10de:1ad9', '10de:1adb', '10de:1aed'] }] },
    { name: 'ucsi_ccg', deps: ['i2c_nvidia_gpu'] },
    { name: 'ahci', drivers: [{ name: 'ahci', ids: ['*:*:0106'] }] },
    { name: 'nvme', drivers: [{ name: 'nvme', ids: ['*:*:010802'] }] },
    { name: 'e1000e', drivers: [{ name: 'e1000e', ids: ['8086:15bc'] }] },
    { name: 'i2c_i801', drivers: [{ name: 'i801_smbus', ids: ['8086:a323'] }] },
  ],
  devices: [
    { address: '0000:00:00.0', vendor: '8086', device: '3e30', class: '060000', iommuGroup: 0, label: '8th/9th Gen Core host bridge' },
    { address: '0000:00:01.0', vendor: '8086', device: '1901', class: '060400', iommuGroup: 1, driver: 'pcieport', irq: 122, label: 'PCIe root port x16 (the GPU slot)' },
    { address: '0000:01:00.0', vendor: '10de', device: '1f08', subsystemVendor: '1043', subsystemDevice: '8676', class: '030000', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 13, driver: 'nouveau', bootVga: true, irq: 142, label: 'TU106 [GeForce RTX 2060 Rev. A]' },
    { address: '0000:01:00.1', vendor: '10de', device: '10f9', subsystemVendor: '1043', subsystemDevice: '8676', class: '040300', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 13, driver: 'snd_hda_intel', irq: 17, label: 'TU106 High Definition Audio Controller' },
    { address: '0000:01:00.2', vendor: '10de', device: '1ada', subsystemVendor: '1043', subsystemDevice: '8676', class: '0c0330', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 13, driver: 'xhci_hcd', irq: 143, label: 'TU106 USB 3.1 Host Controller' },
    { address: '0000:01:00.3', vendor: '10de', device: '1adb', subsystemVendor: '1043', subsystemDevice: '8676', class: '0c8000', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 13, driver: 'nvidia-gpu', irq: 18, label: 'TU106 USB Type-C UCSI Controller' },
    { address: '0000:00:14.0', vendor: '8086', device: 'a36d', class: '0c0330', iommuGroup: 3, driver: 'xhci_hcd', irq: 124, label: 'Cannon Lake PCH USB 3.1 xHCI' },
    { address: '0000:00:17.0', vendor: '8086', device: 'a352', class: '010601', iommuGroup: 5, driver: 'ahci', irq: 125, label: 'Cannon Lake PCH SATA AHCI' },
    { address: '0000:00:1b.0', vendor: '8086', device: 'a340', class: '060400', iommuGroup: 6, driver: 'pcieport', irq: 126, label: 'Cannon Lake PCH PCIe root port #17' },
    { address: '0000:02:00.0', vendor: '144d', device: 'a808', subsystemVendor: '144d', subsystemDevice: 'a801', class: '010802', parent: '0000:00:1b.0', iommuGroup: 14, driver: 'nvme', disk: 'nvme0n1', irq: 16, label: 'Samsung 970 EVO Plus NVMe' },
    { address: '0000:00:1f.0', vendor: '8086', device: 'a305', class: '060100', iommuGroup: 10, label: 'Z390 LPC controller' },
    { address: '0000:00:1f.3', vendor: '8086', device: 'a348', class: '040300', iommuGroup: 10, driver: 'snd_hda_intel', irq: 148, label: 'Cannon Lake PCH cAVS (onboard audio)' },
    { address: '0000:00:1f.4', vendor: '8086', device: 'a323', class: '0c0500', iommuGroup: 10, driver: 'i801_smbus', irq: 16, label: 'Cannon Lake PCH SMBus' },
    { address: '0000:00:1f.6', vendor: '8086', device: '15bc', class: '020000', iommuGroup: 11, driver: 'e1000e', netdev: 'eno1', irq: 133, label: 'Ethernet I219-V' },
  ],
  firmwareFramebuffer: { kind: 'efi-framebuffer', state: 'removed' },
  consoles: { fbcon: true, vtconsoles: ['(S) dummy device', '(M) frame buffer device'] },
  processes: [
    { pid: 1, comm: 'systemd', cmdline: ['/sbin/init'] },
    { pid: 812, comm: 'sddm', cmdline: ['/usr/bin/sddm'] },
    { pid: 845, comm: 'Xorg', cmdline: ['/usr/lib/Xorg', '-nolisten', 'tcp', '-auth', '/run/sddm/xauth_x', 'vt1'], fds: ['/dev/dri/card0', '/dev/dri/renderD128'] },
    { pid: 1203, comm: 'pipewire', cmdline: ['/usr/bin/pipewire'], fds: ['/dev/snd/controlC1'] },
  ],
  displayManager: { unit: 'display-manager.service', name: 'sddm' },
  irqs: [0, 1, 8, 9, 12],
} satisfies ScenarioFile;
