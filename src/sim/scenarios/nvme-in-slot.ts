// A workstation card that carries an NVMe drive on the card itself: its slot holds the Radeon's VGA
// and HDMI audio and, as function 2, the drive's controller (nvme1n1, a data disk of the host), all
// in one IOMMU group. The drive is not the card: gpu-hookd refuses to take it from the host, naming
// the disk, unless the domain names 0000:0c:00.2 as a hostdev of its own.

import { ScenarioFile } from '../scenario';
import amd from './amd';

export default {
  ...amd,
  name: 'nvme-in-slot',
  description: 'Radeon card with an NVMe drive (nvme1n1) as a third function of its slot, in its IOMMU group',
  devices: [
    ...amd.devices.map((d) => (d.address === '0000:01:00.0' ? { ...d, disk: 'nvme0n1' } : d)),
    { address: '0000:0c:00.2', vendor: '144d', device: 'a808', subsystemVendor: '144d', subsystemDevice: 'a801', class: '010802', parent: '0000:0b:00.0', iommuGroup: 18, driver: 'nvme', disk: 'nvme1n1', irq: 114, label: 'Samsung 970 EVO Plus NVMe (on the card)' },
  ],
} satisfies ScenarioFile;
