// An all-AMD desktop: a Radeon RX 6800 XT (Navi 21) behind its own PCIe switch, VGA and HDMI audio
// in one IOMMU group, driving the console on amdgpu. vfio is not loaded at boot (the engine must
// modprobe it), and fbcon sits at vtcon2 with vtcon1 free, so when it comes back it is vtcon1:
// code that remembers console numbers instead of names breaks here.

import { ScenarioFile } from '../scenario';

export default {
  name: 'amd',
  description: 'Ryzen 7 5800X desktop with one Radeon RX 6800 XT (amdgpu + HDMI audio) behind a PCIe switch; vfio not loaded',
  kernel: { release: '6.7.4-arch1-1', cmdline: 'BOOT_IMAGE=/vmlinuz-linux root=/dev/nvme0n1p2 rw iommu=pt quiet splash' },
  cpu: { vendor: 'amd', model: 'AMD Ryzen 7 5800X 8-Core Processor', coresPerSocket: 8, threadsPerCore: 2, governor: 'schedutil' },
  iommu: { groupType: 'DMA-FQ' },
  vfio: { loaded: false },
  modules: [
    { name: 'drm' },
    { name: 'drm_kms_helper', deps: ['drm'] },
    { name: 'ttm', deps: ['drm'] },
    { name: 'gpu_sched', deps: ['drm'] },
    { name: 'amdgpu', deps: ['drm_kms_helper', 'ttm', 'gpu_sched', 'drm'], drivers: [{ name: 'amdgpu', ids: ['1002:*:03'], drm: { fbdev: true, fbName: 'amdgpudrmfb', renderNode: true } }] },
    { name: 'snd_hda_intel', drivers: [{ name: 'snd_hda_intel', ids: ['*:*:0403'], probeDelayMs: 250 }] },
    { name: 'xhci_pci', drivers: [{ name: 'xhci_hcd', ids: ['*:*:0c0330'] }] },
    { name: 'nvme', drivers: [{ name: 'nvme', ids: ['*:*:010802'] }] },
    { name: 'r8169', drivers: [{ name: 'r8169', ids: ['10ec:8125', '10ec:8168'] }] },
    { name: 'i2c_piix4', drivers: [{ name: 'piix4_smbus', ids: ['1022:790b'] }] },
    { name: 'ccp', drivers: [{ name: 'ccp', ids: ['1022:1486'] }] },
  ],
  devices: [
    { address: '0000:00:00.0', vendor: '1022', device: '1480', class: '060000', iommuGroup: 0, label: 'Starship/Matisse Root Complex' },
    { address: '0000:00:00.2', vendor: '1022', device: '1481', class: '080600', iommuGroup: 1, label: 'Starship/Matisse IOMMU' },
    { address: '0000:00:01.0', vendor: '1022', device: '1482', class: '060000', iommuGroup: 2, label: 'PCIe dummy host bridge' },
    { address: '0000:00:01.2', vendor: '1022', device: '1483', class: '060400', iommuGroup: 3, driver: 'pcieport', irq: 27, label: 'GPP bridge (NVMe)' },
    { address: '0000:01:00.0', vendor: '144d', device: 'a80a', subsystemVendor: '144d', subsystemDevice: 'a801', class: '010802', parent: '0000:00:01.2', iommuGroup: 14, driver: 'nvme', irq: 45, label: 'Samsung 980 PRO NVMe' },
    { address: '0000:00:02.1', vendor: '1022', device: '1483', class: '060400', iommuGroup: 5, driver: 'pcieport', irq: 28, label: 'GPP bridge (LAN)' },
    { address: '0000:05:00.0', vendor: '10ec', device: '8125', subsystemVendor: '1043', subsystemDevice: '87d7', class: '020000', parent: '0000:00:02.1', iommuGroup: 15, driver: 'r8169', irq: 46, label: 'RTL8125 2.5GbE' },
    { address: '0000:00:03.0', vendor: '1022', device: '1482', class: '060000', iommuGroup: 6, label: 'PCIe dummy host bridge' },
    { address: '0000:00:03.1', vendor: '1022', device: '1483', class: '060400', iommuGroup: 7, driver: 'pcieport', irq: 29, label: 'GPP bridge (GPU slot)' },
    { address: '0000:0a:00.0', vendor: '1002', device: '1478', class: '060400', parent: '0000:00:03.1', iommuGroup: 16, driver: 'pcieport', irq: 30, label: 'Navi 10 XL upstream port' },
    { address: '0000:0b:00.0', vendor: '1002', device: '1479', class: '060400', parent: '0000:0a:00.0', iommuGroup: 17, driver: 'pcieport', irq: 31, label: 'Navi 10 XL downstream port' },
    { address: '0000:0c:00.0', vendor: '1002', device: '73bf', subsystemVendor: '1002', subsystemDevice: '0e3a', class: '030000', revision: 'c1', parent: '0000:0b:00.0', iommuGroup: 18, driver: 'amdgpu', bootVga: true, irq: 112, label: 'Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]' },
    { address: '0000:0c:00.1', vendor: '1002', device: 'ab28', subsystemVendor: '1002', subsystemDevice: 'ab28', class: '040300', parent: '0000:0b:00.0', iommuGroup: 18, driver: 'snd_hda_intel', irq: 113, label: 'Navi 21/23 HDMI/DP Audio' },
    { address: '0000:00:08.1', vendor: '1022', device: '1484', class: '060400', iommuGroup: 8, driver: 'pcieport', irq: 32, label: 'Internal PCIe GPP bridge' },
    { address: '0000:0e:00.3', vendor: '1022', device: '149c', class: '0c0330', parent: '0000:00:08.1', iommuGroup: 19, driver: 'xhci_hcd', irq: 47, label: 'Matisse USB 3.0 Host Controller' },
    { address: '0000:0e:00.1', vendor: '1022', device: '1486', class: '108000', parent: '0000:00:08.1', iommuGroup: 19, driver: 'ccp', irq: 48, label: 'Starship/Matisse Cryptographic Coprocessor' },
    { address: '0000:00:14.0', vendor: '1022', device: '790b', class: '0c0500', iommuGroup: 9, driver: 'piix4_smbus', irq: 0, label: 'FCH SMBus Controller' },
    { address: '0000:00:14.3', vendor: '1022', device: '790e', class: '060100', iommuGroup: 9, label: 'FCH LPC Bridge' },
  ],
  firmwareFramebuffer: { kind: 'efi-framebuffer', state: 'removed' },
  consoles: { fbcon: true, vtconsoles: ['(S) dummy device', null, '(M) frame buffer device'] },
  processes: [
    { pid: 1, comm: 'systemd', cmdline: ['/sbin/init'] },
    { pid: 901, comm: 'gdm', cmdline: ['/usr/bin/gdm'] },
    { pid: 1450, comm: 'gnome-shell', cmdline: ['/usr/bin/gnome-shell'], fds: ['/dev/dri/card0', '/dev/dri/renderD128'] },
  ],
  displayManager: { unit: 'display-manager.service', name: 'gdm' },
  irqs: [0, 1, 8, 9],
} satisfies ScenarioFile;
