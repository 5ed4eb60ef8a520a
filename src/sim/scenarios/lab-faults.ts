// The real-kernel lab's fault guest: the SeaBIOS/bochs guest plus a second card behind a PCIe-to-PCI
// bridge. The bridge aliases everything behind it, so one IOMMU group holds the bridge, a bochs
// display at 03:01.0 and an HDA controller at 03:02.0 in another slot, still on snd_hda_intel: that
// group is not viable.

import { ScenarioFile } from '../scenario';
import { labAudioModules, labBaseModules, labBochsModules, labChipset, labGpuCard, labGuest } from './lab-seabios-bochs';

export default {
  name: 'lab-faults',
  description: 'The lab guest with a non-viable second card (display and a foreign HDA behind one PCIe-to-PCI bridge) (Debian 6.1 under QEMU)',
  ...labGuest,
  modules: [...labBaseModules, ...labAudioModules, ...labBochsModules],
  devices: [
    ...labChipset([
      { address: '0000:00:02.0', vendor: '1b36', device: '000c', class: '060400', iommuGroup: 2, driver: 'pcieport', label: 'PCIe root port of the legacy slot' },
    ]),
    ...labGpuCard({ vendor: '1234', device: '1111', driver: 'bochs-drm' }, 7),
    { address: '0000:02:00.0', vendor: '1b36', device: '000e', class: '060400', parent: '0000:00:02.0', iommuGroup: 8, label: 'PCIe-to-PCI bridge' },
    { address: '0000:03:01.0', vendor: '1234', device: '1111', class: '038000', parent: '0000:02:00.0', iommuGroup: 8, driver: 'bochs-drm', label: 'bochs display behind the bridge' },
    { address: '0000:03:02.0', vendor: '8086', device: '293e', class: '040300', parent: '0000:02:00.0', iommuGroup: 8, driver: 'snd_hda_intel', label: 'HDA in another slot of the same group' },
  ],
  firmwareFramebuffer: { kind: 'none' },
  consoles: { fbcon: true, vtconsoles: ['(M) frame buffer device', '(M) dummy device'] },
} satisfies ScenarioFile;
