// A board without ACS on its CPU root ports: the GPU's IOMMU group also holds the second root port
// and the Intel I211 NIC behind it, which is in use on igb. The group is not viable: giving the GPU
// to a VM would mean taking the host's network away, so gpu-hookd must refuse and name the NIC.

import { ScenarioFile } from '../scenario';

export default {
  name: 'shared-group',
  description: 'i7-7700 desktop whose GTX 1050 Ti shares its IOMMU group with an I211 NIC on igb (not viable); cpu7 offline',
  kernel: { release: '6.1.0-18-amd64', cmdline: 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=/dev/sda2 ro intel_iommu=on quiet' },
  cpu: { vendor: 'intel', model: 'Intel(R) Core(TM) i7-7700 CPU @ 3.60GHz', coresPerSocket: 4, threadsPerCore: 2, offline: [7], governor: 'powersave', governors: ['performance', 'powersave'] },
  iommu: { groupType: 'DMA' },
  vfio: { loaded: true },
  modules: [
    { name: 'drm' },
    { name: 'drm_kms_helper', deps: ['drm'] },
    { name: 'ttm', deps: ['drm'] },
    { name: 'nouveau', deps: ['drm_kms_helper', 'ttm', 'drm'], drivers: [{ name: 'nouveau', ids: ['10de:*:03'], drm: { fbdev: true, fbName: 'nouveaudrmfb', renderNode: true } }] },
    { name: 'snd_hda_intel', drivers: [{ name: 'snd_hda_intel', ids: ['8086:a2f0', '*:*:0403'], probeDelayMs: 200 }] },
    { name: 'igb', drivers: [{ name: 'igb', ids: ['8086:1539', '8086:1533'] }] },
    { name: 'xhci_pci', drivers: [{ name: 'xhci_hcd', ids: ['*:*:0c0330'] }] },
    { name: 'ahci', drivers: [{ name: 'ahci', ids: ['*:*:0106'] }] },
  ],
  devices: [
    { address: '0000:00:00.0', vendor: '8086', device: '591f', class: '060000', iommuGroup: 0, label: 'Xeon E3-1200 v6/7th Gen Core host bridge' },
    { address: '0000:00:01.0', vendor: '8086', device: '1901', class: '060400', iommuGroup: 1, driver: 'pcieport', irq: 120, label: 'PCIe x16 root port' },
    { address: '0000:00:01.1', vendor: '8086', device: '1905', class: '060400', iommuGroup: 1, driver: 'pcieport', irq: 121, label: 'PCIe x8 root port' },
    { address: '0000:01:00.0', vendor: '10de', device: '1c82', subsystemVendor: '1458', subsystemDevice: '3746', class: '030000', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 1, driver: 'nouveau', bootVga: true, irq: 130, label: 'GP107 [GeForce GTX 1050 Ti]' },
    { address: '0000:01:00.1', vendor: '10de', device: '0fb9', subsystemVendor: '1458', subsystemDevice: '3746', class: '040300', revision: 'a1', parent: '0000:00:01.0', iommuGroup: 1, driver: 'snd_hda_intel', irq: 17, label: 'GP107GL High Definition Audio Controller' },
    { address: '0000:02:00.0', vendor: '8086', device: '1539', subsystemVendor: '1458', subsystemDevice: 'e000', class: '020000', revision: '03', parent: '0000:00:01.1', iommuGroup: 1, driver: 'igb', netdev: 'enp2s0', irq: 131, label: 'I211 Gigabit Network Connection' },
    { address: '0000:00:14.0', vendor: '8086', device: 'a2af', class: '0c0330', iommuGroup: 3, driver: 'xhci_hcd', irq: 122, label: '200 Series PCH USB 3.0 xHCI' },
    { address: '0000:00:17.0', vendor: '8086', device: 'a282', class: '010601', iommuGroup: 5, driver: 'ahci', disk: 'sda', irq: 123, label: '200 Series PCH SATA' },
    { address: '0000:00:1f.0', vendor: '8086', device: 'a2c5', class: '060100', iommuGroup: 8, label: 'Z270 LPC' },
    { address: '0000:00:1f.3', vendor: '8086', device: 'a2f0', class: '040300', iommuGroup: 8, driver: 'snd_hda_intel', irq: 133, label: '200 Series PCH HD Audio' },
  ],
  firmwareFramebuffer: { kind: 'efi-framebuffer', state: 'removed' },
  consoles: { fbcon: true, vtconsoles: ['(S) dummy device', '(M) frame buffer device'] },
  processes: [
    { pid: 1, comm: 'systemd', cmdline: ['/sbin/init'] },
    { pid: 640, comm: 'lightdm', cmdline: ['/usr/sbin/lightdm'] },
    { pid: 702, comm: 'Xorg', cmdline: ['/usr/lib/xorg/Xorg', ':0', 'vt7'], fds: ['/dev/dri/card0'] },
  ],
  displayManager: { unit: 'display-manager.service', name: 'lightdm' },
  irqs: [0, 1, 8, 9],
} satisfies ScenarioFile;
