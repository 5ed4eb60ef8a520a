// Plain data describing what the kernel says about PCI devices. Readers live in pci-discovery.ts;
// everything else (plans, viability, the CLI table, D-Bus properties) works on these values.

export interface PciDevice {
  /** "0000:01:00.0" */
  address: string;
  /** Lower-case hex without 0x: "10de" */
  vendorId: string;
  deviceId: string;
  subsystemVendorId: string | null;
  subsystemDeviceId: string | null;
  /** Six hex digits without 0x: "030000" (display/VGA), "040300" (audio), "0c0330" (USB) */
  classCode: string;
  /** Header type from config space byte 0x0e (low 7 bits): 0 endpoint, 1 PCI bridge, 2 CardBus bridge. */
  headerType: number;
  /** Bridges are not assigned to VMs and do not count against group viability. */
  isBridge: boolean;
  /** Bound driver's name (the driver link), or null when unbound. */
  driver: string | null;
  /** Kernel module providing the bound driver, or null (unbound or built in). */
  driverModule: string | null;
  /** driver_override, null when it reads "(null)" or is empty. */
  driverOverride: string | null;
  /** boot_vga reads 1: the firmware initialised this device as the console. */
  bootVga: boolean;
  /** IOMMU group number as a string, or null when the kernel made no groups. */
  iommuGroup: string | null;
  /** Human name from pci.ids ("NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]"), or "vendor:device". */
  name: string;
}

export type Viability =
  | { viable: true }
  | { viable: false; culprit: string; reason: string };

export interface IommuGroup {
  id: string;
  members: PciDevice[];
}

export interface Gpu {
  /** Address of the display-class function (class 03xxxx). */
  address: string;
  name: string;
  bootVga: boolean;
  group: IommuGroup;
  /** Members of the group that are not bridges: what moves to vfio-pci. Display function first. */
  functions: PciDevice[];
}

export const VFIO_DRIVER = 'vfio-pci';

export function isDisplayClass(classCode: string): boolean {
  return classCode.startsWith('03');
}
