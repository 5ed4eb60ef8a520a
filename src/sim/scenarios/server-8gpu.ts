// A two-socket compute server with eight GeForce RTX 3090s (each VGA + HDMI audio in its own IOMMU
// group behind its own root port) on the proprietary nvidia driver, spread over four root
// complexes, and a BMC's ASPEED VGA as the console. Planning for all eight GPUs must stay fast.

import { ScenarioFile } from '../scenario';

type Device = ScenarioFile['devices'][number];

/** Root complexes (bus of the host bridge) and the NUMA node they hang off. */
const complexes = [
  { bus: '00', node: 0 },
  { bus: '40', node: 0 },
  { bus: '80', node: 1 },
  { bus: 'c0', node: 1 },
];

function rootComplex(bus: string, node: number, group: number): Device[] {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  const base = parseInt(bus, 16);
  const devices: Device[] = [
    { address: `0000:${bus}:00.0`, vendor: '1022', device: '1480', class: '060000', iommuGroup: group, numaNode: node, label: 'Starship/Matisse Root Complex' },
  ];
  ['01.1', '01.2'].forEach((port, i) => {
    const bridge = `0000:${bus}:${port}`;
    const gpuBus = hex(base + 1 + i);
    const g = group + 1 + i;
    devices.push(
      { address: bridge, vendor: '1022', device: '1483', class: '060400', iommuGroup: g, driver: 'pcieport', numaNode: node, irq: 40 + base / 16 + i, label: 'GPP bridge' },
      { address: `0000:${gpuBus}:00.0`, vendor: '10de', device: '2204', subsystemVendor: '10de', subsystemDevice: '147d', class: '030000', revision: 'a1', parent: bridge, iommuGroup: g, driver: 'nvidia', numaNode: node, irq: 200 + base / 8 + 2 * i, label: 'GA102 [GeForce RTX 3090]' },
      { address: `0000:${gpuBus}:00.1`, vendor: '10de', device: '1aef', subsystemVendor: '10de', subsystemDevice: '147d', class: '040300', revision: 'a1', parent: bridge, iommuGroup: g, driver: 'snd_hda_intel', numaNode: node, irq: 201 + base / 8 + 2 * i, label: 'GA102 High Definition Audio Controller' },
    );
  });
  return devices;
}

export default {
  name: 'server-8gpu',
  description: 'Dual EPYC 7313 server (2x16 cores, 64 threads) with eight RTX 3090s on nvidia, ASPEED BMC console',
  kernel: { release: '6.1.0-18-amd64', cmdline: 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=/dev/md0 ro amd_iommu=on iommu=pt console=tty0 console=ttyS1,115200' },
  cpu: { vendor: 'amd', model: 'AMD EPYC 7313 16-Core Processor', sockets: 2, coresPerSocket: 16, threadsPerCore: 2, governor: 'performance', governors: ['performance', 'schedutil'] },
  iommu: { groupType: 'DMA' },
  vfio: { loaded: true },
  modules: [
    { name: 'drm' },
    { name: 'drm_kms_helper', deps: ['drm'] },
    { name: 'ast', deps: ['drm_kms_helper', 'drm'], drivers: [{ name: 'ast', ids: ['1a03:2000'], drm: { fbdev: true, fbName: 'astdrmfb', renderNode: false } }] },
    { name: 'nvidia', drivers: [{ name: 'nvidia', ids: ['10de:*:03'] }] },
    { name: 'nvidia_uvm', deps: ['nvidia'] },
    { name: 'nvidia_modeset', deps: ['nvidia'], loaded: false },
    { name: 'nvidia_drm', deps: ['nvidia_modeset', 'drm_kms_helper', 'drm'], loaded: false },
    { name: 'snd_hda_intel', drivers: [{ name: 'snd_hda_intel', ids: ['*:*:0403'], probeDelayMs: 300 }] },
    { name: 'nvme', drivers: [{ name: 'nvme', ids: ['*:*:010802'] }] },
    { name: 'i40e', drivers: [{ name: 'i40e', ids: ['8086:1572'] }] },
  ],
  devices: [
    ...complexes.flatMap((c, i) => rootComplex(c.bus, c.node, i * 10)),
    { address: '0000:00:07.1', vendor: '1022', device: '1484', class: '060400', iommuGroup: 5, driver: 'pcieport', numaNode: 0, irq: 50, label: 'Internal PCIe GPP bridge' },
    { address: '0000:03:00.0', vendor: '1a03', device: '1150', class: '060400', parent: '0000:00:07.1', iommuGroup: 6, numaNode: 0, label: 'AST1150 PCI-to-PCI Bridge' },
    { address: '0000:04:00.0', vendor: '1a03', device: '2000', subsystemVendor: '15d9', subsystemDevice: '1b95', class: '030000', revision: '41', parent: '0000:03:00.0', iommuGroup: 6, driver: 'ast', bootVga: true, numaNode: 0, irq: 51, label: 'ASPEED Graphics Family' },
    { address: '0000:80:03.1', vendor: '1022', device: '1483', class: '060400', iommuGroup: 25, driver: 'pcieport', numaNode: 1, irq: 52, label: 'GPP bridge (NVMe)' },
    { address: '0000:83:00.0', vendor: '144d', device: 'a824', class: '010802', parent: '0000:80:03.1', iommuGroup: 26, driver: 'nvme', numaNode: 1, irq: 53, label: 'Samsung PM1733 NVMe' },
    { address: '0000:c0:03.1', vendor: '1022', device: '1483', class: '060400', iommuGroup: 35, driver: 'pcieport', numaNode: 1, irq: 54, label: 'GPP bridge (LAN)' },
    { address: '0000:c3:00.0', vendor: '8086', device: '1572', class: '020000', parent: '0000:c0:03.1', iommuGroup: 36, driver: 'i40e', numaNode: 1, irq: 55, label: 'Ethernet Controller X710 for 10GbE SFP+' },
    { address: '0000:c3:00.1', vendor: '8086', device: '1572', class: '020000', parent: '0000:c0:03.1', iommuGroup: 36, driver: 'i40e', numaNode: 1, irq: 56, label: 'Ethernet Controller X710 for 10GbE SFP+' },
  ],
  firmwareFramebuffer: { kind: 'efi-framebuffer', state: 'removed' },
  consoles: { fbcon: true, vtconsoles: ['(S) dummy device', '(M) frame buffer device'] },
  processes: [
    { pid: 1, comm: 'systemd', cmdline: ['/sbin/init'] },
    { pid: 1012, comm: 'nvidia-persistenced', cmdline: ['/usr/bin/nvidia-persistenced'], fds: ['/dev/nvidiactl', '/dev/nvidia0', '/dev/nvidia1', '/dev/nvidia2', '/dev/nvidia3', '/dev/nvidia4', '/dev/nvidia5', '/dev/nvidia6', '/dev/nvidia7'] },
  ],
  displayManager: null,
  irqs: [0, 1, 8, 9],
} satisfies ScenarioFile;
