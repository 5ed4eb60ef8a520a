// The real-kernel lab's two-display guest: the SeaBIOS/bochs guest (VGA at 01:00.0, the boot VGA,
// with fbcon on its fb0, and an HDA at 01:00.1) plus a second card behind its own root port: a bochs
// display at 02:00.0 (fb1, card1) with an HDA at 02:00.1, in a group of their own.

import { ScenarioFile } from '../scenario';
import { labAudioModules, labBaseModules, labBochsModules, labChipset, labGpuCard, labGuest } from './lab-seabios-bochs';

export default {
  name: 'lab-two-display',
  description: 'The lab guest with a second bochs display + HDA behind its own root port, fbcon on the first (Debian 6.1 under QEMU)',
  ...labGuest,
  modules: [...labBaseModules, ...labAudioModules, ...labBochsModules],
  devices: [
    ...labChipset([
      { address: '0000:00:02.0', vendor: '1b36', device: '000c', class: '060400', iommuGroup: 2, driver: 'pcieport', label: 'PCIe root port of the second card' },
    ]),
    ...labGpuCard({ vendor: '1234', device: '1111', driver: 'bochs-drm' }, 7),
    { address: '0000:02:00.0', vendor: '1234', device: '1111', class: '038000', parent: '0000:00:02.0', iommuGroup: 8, driver: 'bochs-drm', label: 'second display (bochs-display)' },
    { address: '0000:02:00.1', vendor: '8086', device: '293e', class: '040300', parent: '0000:00:02.0', iommuGroup: 8, driver: 'snd_hda_intel', label: 'its HDA audio function' },
  ],
  firmwareFramebuffer: { kind: 'none' },
  consoles: { fbcon: true, vtconsoles: ['(M) frame buffer device', '(M) dummy device'] },
} satisfies ScenarioFile;
