// The real-kernel lab's guest under OVMF with no DRM driver loaded: efifb scans out of the boot VGA's
// BAR and fbcon sits on it. When vfio-pci binds the boot VGA the kernel removes efi-framebuffer.0
// for good; the display function itself had no driver and gets none back.

import { ScenarioFile } from '../scenario';
import { labAudioModules, labBaseModules, labChipset, labGpuCard, labGuest } from './lab-seabios-bochs';

export default {
  name: 'lab-ovmf-efifb',
  description: 'The lab guest: OVMF, efifb on the boot VGA (no DRM driver) with fbcon + HDA at 01:00.1 (Debian 6.1 under QEMU)',
  ...labGuest,
  modules: [...labBaseModules, ...labAudioModules],
  devices: [...labChipset(), ...labGpuCard({ vendor: '1234', device: '1111', driver: null }, 6)],
  firmwareFramebuffer: { kind: 'efi-framebuffer', state: 'bound-with-fb' },
  consoles: { fbcon: true, vtconsoles: ['(S) dummy device', '(M) frame buffer device'] },
} satisfies ScenarioFile;
