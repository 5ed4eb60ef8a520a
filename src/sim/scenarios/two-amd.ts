// Two discrete Radeons: the RX 6800 XT (boot VGA, amdgpu, card0/renderD128/fb0, fbcon, gdm's
// gnome-shell) draws the desktop, an RX 6600 in the second slot (amdgpu too: card1, renderD129 and
// an fb1 of its own) goes to VMs. Passing the RX 6600 must leave the desktop and console alone.

import { ScenarioFile } from '../scenario';
import amd from './amd';

export default {
  name: 'two-amd',
  description: 'Ryzen 9 5900X desktop: Radeon RX 6800 XT for the desktop and console, Radeon RX 6600 (amdgpu, fb1) for VMs',
  kernel: { release: '6.7.4-arch1-1', cmdline: 'BOOT_IMAGE=/vmlinuz-linux root=/dev/nvme0n1p2 rw iommu=pt quiet' },
  cpu: { vendor: 'amd', model: 'AMD Ryzen 9 5900X 12-Core Processor', coresPerSocket: 12, threadsPerCore: 2, governor: 'schedutil' },
  iommu: { groupType: 'DMA-FQ' },
  vfio: { loaded: true },
  // amd's driver stack (amdgpu, HDMI audio, the board's own drivers).
  modules: amd.modules,
  devices: [
    { address: '0000:00:00.0', vendor: '1022', device: '1480', class: '060000', iommuGroup: 0, label: 'Starship/Matisse Root Complex' },
    { address: '0000:00:01.2', vendor: '1022', device: '1483', class: '060400', iommuGroup: 3, driver: 'pcieport', irq: 27, label: 'GPP bridge (NVMe)' },
    { address: '0000:01:00.0', vendor: '144d', device: 'a80a', class: '010802', parent: '0000:00:01.2', iommuGroup: 14, driver: 'nvme', irq: 45, label: 'Samsung 980 PRO NVMe' },
    { address: '0000:00:03.1', vendor: '1022', device: '1483', class: '060400', iommuGroup: 7, driver: 'pcieport', irq: 29, label: 'GPP bridge (first GPU slot)' },
    { address: '0000:0c:00.0', vendor: '1002', device: '73bf', subsystemVendor: '1002', subsystemDevice: '0e3a', class: '030000', revision: 'c1', parent: '0000:00:03.1', iommuGroup: 18, driver: 'amdgpu', bootVga: true, irq: 112, label: 'Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]' },
    { address: '0000:0c:00.1', vendor: '1002', device: 'ab28', class: '040300', parent: '0000:00:03.1', iommuGroup: 18, driver: 'snd_hda_intel', irq: 113, label: 'Navi 21/23 HDMI/DP Audio' },
    { address: '0000:00:03.2', vendor: '1022', device: '1483', class: '060400', iommuGroup: 8, driver: 'pcieport', irq: 30, label: 'GPP bridge (second GPU slot)' },
    { address: '0000:0f:00.0', vendor: '1002', device: '73ff', subsystemVendor: '1da2', subsystemDevice: 'e448', class: '030000', revision: 'c7', parent: '0000:00:03.2', iommuGroup: 20, driver: 'amdgpu', irq: 114, label: 'Navi 23 [Radeon RX 6600]' },
    { address: '0000:0f:00.1', vendor: '1002', device: 'ab28', class: '040300', parent: '0000:00:03.2', iommuGroup: 20, driver: 'snd_hda_intel', irq: 115, label: 'Navi 21/23 HDMI/DP Audio' },
  ],
  consoles: { fbcon: true, vtconsoles: ['(S) dummy device', '(M) frame buffer device'] },
  // amd's boot and desktop: efifb removed by amdgpu, gdm's gnome-shell on card0/renderD128.
  firmwareFramebuffer: amd.firmwareFramebuffer,
  processes: amd.processes,
  displayManager: amd.displayManager,
  irqs: amd.irqs,
} satisfies ScenarioFile;
