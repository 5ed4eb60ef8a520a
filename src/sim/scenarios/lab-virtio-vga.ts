// The real-kernel lab's guest with virtio-vga as its GPU: the PCI device's driver is virtio-pci, and
// virtio_gpu (on the virtio bus inside it) provides the DRM device, its framebuffer and fbcon.

import { ScenarioFile } from '../scenario';
import { labAudioModules, labBaseModules, labChipset, labGpuCard, labGuest } from './lab-seabios-bochs';

type ModuleEntry = NonNullable<ScenarioFile['modules']>[number];

// The simulator has no virtio bus: the DRM device virtio_gpu creates is modelled on the virtio-pci
// driver itself (the simulator gives DRM devices to display functions only, so the 9p devices on
// the same driver get none), replacing the base scenario's virtio_pci module.
const virtioGpuModules: ModuleEntry[] = [
  { name: 'drm', deps: [] },
  { name: 'drm_kms_helper', deps: ['drm'] },
  { name: 'drm_shmem_helper', deps: ['drm'] },
  { name: 'virtio_dma_buf', deps: [] },
  { name: 'virtio_gpu', deps: ['drm_kms_helper', 'drm', 'virtio', 'drm_shmem_helper', 'virtio_ring', 'virtio_dma_buf'] },
];

const baseWithDrm = labBaseModules.map((m): ModuleEntry =>
  m.name === 'virtio_pci'
    ? { ...m, drivers: [{ name: 'virtio-pci', ids: ['1af4:*'], drm: { fbdev: true, fbName: 'virtio_gpudrmfb', renderNode: true } }] }
    : m,
);

export default {
  name: 'lab-virtio-vga',
  description: 'The lab guest: SeaBIOS, virtio-vga on virtio-pci (virtio_gpu, fbcon) + HDA at 01:00.1 (Debian 6.1 under QEMU)',
  ...labGuest,
  modules: [...baseWithDrm, ...virtioGpuModules, ...labAudioModules],
  devices: [...labChipset(), ...labGpuCard({ vendor: '1af4', device: '1050', driver: 'virtio-pci', reset: { flr: true, pm: true } }, 6)],
  firmwareFramebuffer: { kind: 'none' },
  consoles: { fbcon: true, vtconsoles: ['(M) frame buffer device', '(M) dummy device'] },
} satisfies ScenarioFile;
