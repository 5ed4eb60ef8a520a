// The guides' setup: vfio-pci.ids=10de:1f08,10de:10f9 on the kernel command line, vfio-pci loaded
// from the initramfs before the host's drivers, so the RTX 2060's VGA and HDMI audio boot on
// vfio-pci by their ids (no driver_override); its USB and UCSI controllers boot on their own
// drivers. The desktop runs on the Intel iGPU. Given back, vfio-pci takes the two again.

import { ScenarioFile } from '../scenario';
import leftovers from './leftovers';
import seed from './seed';

const onVfio = ['0000:01:00.0', '0000:01:00.1'];

export default {
  ...leftovers,
  name: 'vfio-ids',
  description: 'Intel iGPU desktop; an RTX 2060 whose VGA and audio boot on vfio-pci by vfio-pci.ids= on the kernel command line',
  kernel: { ...seed.kernel, cmdline: `${seed.kernel.cmdline} vfio-pci.ids=10de:1f08,10de:10f9` },
  devices: leftovers.devices.map((d) => {
    const booted = seed.devices.find((s) => s.address === d.address) ?? d;
    const rtx = d.address.startsWith('0000:01:00.');
    return rtx ? { ...booted, bootVga: false, driver: onVfio.includes(d.address) ? 'vfio-pci' : booted.driver } : d;
  }),
} satisfies ScenarioFile;
