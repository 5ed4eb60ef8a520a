// Cards the kernel cannot reset on its own after a VM used them (the "AMD reset bug": Polaris, Vega
// and Navi 1x come back hung or absent), by PCI id. The ids are those the vendor-reset module
// (https://github.com/gnif/vendor-reset) claims in its device list; with it loaded the kernel shows
// "device_specific" among the function's reset methods.

export interface VendorResetCard {
  /** The family as vendor-reset names it ("Polaris 10"). */
  family: string;
  vendorId: string;
  deviceIds: readonly string[];
}

export const VENDOR_RESET_SOURCE = 'vendor-reset (https://github.com/gnif/vendor-reset)';

export const VENDOR_RESET_CARDS: readonly VendorResetCard[] = [
  { family: 'Polaris 10', vendorId: '1002', deviceIds: ['67c0', '67c1', '67c2', '67c4', '67c7', '67c8', '67c9', '67ca', '67cc', '67cf', '67d0', '67df', '6fdf'] },
  { family: 'Polaris 11', vendorId: '1002', deviceIds: ['67e0', '67e1', '67e3', '67e7', '67e8', '67e9', '67eb', '67ef', '67ff'] },
  { family: 'Polaris 12', vendorId: '1002', deviceIds: ['6980', '6981', '6985', '6986', '6987', '6995', '6997', '699f'] },
  { family: 'Vega 10', vendorId: '1002', deviceIds: ['6860', '6861', '6862', '6863', '6864', '6867', '6868', '6869', '686a', '686b', '686c', '686d', '686e', '686f', '687f'] },
  { family: 'Vega 20', vendorId: '1002', deviceIds: ['66a0', '66a1', '66a2', '66a3', '66a4', '66a7', '66af'] },
  { family: 'Navi 10', vendorId: '1002', deviceIds: ['7310', '7312', '7318', '7319', '731a', '731b', '731e', '731f', '1681'] },
  { family: 'Navi 12', vendorId: '1002', deviceIds: ['7360', '7362'] },
  { family: 'Navi 14', vendorId: '1002', deviceIds: ['7340', '7341', '7347', '734f'] },
  { family: 'Arcturus (Instinct MI100)', vendorId: '1002', deviceIds: ['738c'] },
];

/** The card's entry when vendor-reset is known to be needed for it, else undefined. */
export function vendorResetCard(vendorId: string, deviceId: string): VendorResetCard | undefined {
  const v = vendorId.toLowerCase();
  const d = deviceId.toLowerCase();
  return VENDOR_RESET_CARDS.find((c) => c.vendorId === v && c.deviceIds.includes(d));
}

/** What to install and set up, one sentence part. */
export const VENDOR_RESET_FIX =
  'install vendor-reset (Arch: the AUR package vendor-reset-dkms-git; elsewhere build it with DKMS from https://github.com/gnif/vendor-reset), ' +
  'load it at boot (echo vendor-reset | sudo tee /etc/modules-load.d/vendor-reset.conf) and, on kernel 5.15 or later, ' +
  'make it the reset method (echo device_specific | sudo tee /sys/bus/pci/devices/<GPU>/reset_method, or its udev rule)';
