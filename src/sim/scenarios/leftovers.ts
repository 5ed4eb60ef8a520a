// The seed's RTX 2060 as another tool left it: a hook script that crashed half-way put the HDMI audio
// on vfio-pci by driver_override, unbound the USB controller and wrote vfio-pci into the UCSI
// controller's driver_override without unbinding it. The desktop runs on the Intel iGPU (boot VGA).
// gpu-hookd must show each as such, never record vfio-pci as a host driver, and give each back to
// the driver the kernel chooses.

import { ScenarioFile } from '../scenario';
import seed from './seed';

const rtx = seed.devices.filter((d) => d.address.startsWith('0000:01:00.'));
const left: Record<string, object> = {
  '0000:01:00.0': { bootVga: false },
  '0000:01:00.1': { driver: 'vfio-pci', driverOverride: 'vfio-pci' },
  '0000:01:00.2': { driver: null },
  '0000:01:00.3': { driverOverride: 'vfio-pci' },
};

export default {
  ...seed,
  name: 'leftovers',
  description: 'Intel iGPU desktop; an RTX 2060 whose audio another tool left on vfio-pci, USB unbound, UCSI with driver_override vfio-pci',
  modules: [
    ...seed.modules,
    { name: 'i915', deps: ['drm_kms_helper', 'drm'], drivers: [{ name: 'i915', ids: ['8086:*:03'], drm: { fbdev: true, fbName: 'i915drmfb', renderNode: true } }] },
  ],
  devices: [
    { address: '0000:00:02.0', vendor: '8086', device: '3e98', class: '030000', iommuGroup: 2, driver: 'i915', bootVga: true, irq: 140, label: 'CoffeeLake-S GT2 [UHD Graphics 630]' },
    ...seed.devices.filter((d) => !rtx.includes(d)),
    ...rtx.map((d) => ({ ...d, ...left[d.address] })),
  ],
  processes: [
    { pid: 1, comm: 'systemd', cmdline: ['/sbin/init'] },
    { pid: 812, comm: 'sddm', cmdline: ['/usr/bin/sddm'] },
    { pid: 845, comm: 'Xorg', cmdline: ['/usr/lib/Xorg', 'vt1'], fds: ['/dev/dri/card0'] },
  ],
} satisfies ScenarioFile;
