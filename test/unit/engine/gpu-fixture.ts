// Plain-data GPUs for plan tests: the seed host's RTX 2060 (VGA, audio, USB, UCSI in one group).

import type { Gpu, PciDevice } from '../../../src/host/pci-device';

export function fn(address: string, driver: string | null, extra: Partial<PciDevice> = {}): PciDevice {
  return {
    address,
    vendorId: '10de',
    deviceId: '1f08',
    subsystemVendorId: null,
    subsystemDeviceId: null,
    classCode: '030000',
    headerType: 0,
    isBridge: false,
    driver,
    driverModule: driver,
    driverOverride: null,
    bootVga: false,
    iommuGroup: '12',
    name: address,
    ...extra,
  };
}

export function seedFunctions(): PciDevice[] {
  return [
    fn('0000:01:00.0', 'nouveau', { bootVga: true }),
    fn('0000:01:00.1', 'snd_hda_intel', { classCode: '040300' }),
    fn('0000:01:00.2', 'xhci_hcd', { classCode: '0c0330', driverModule: 'xhci_pci' }),
    fn('0000:01:00.3', 'ucsi_ccg', { classCode: '0c8000' }),
  ];
}

export function gpuOf(functions: PciDevice[], groupId: string | null = '12'): Gpu {
  return {
    address: functions[0].address,
    name: 'NVIDIA TU106 [GeForce RTX 2060 Rev. A]',
    bootVga: functions[0].bootVga,
    group: { id: groupId, members: functions } as Gpu['group'],
    functions,
  };
}
