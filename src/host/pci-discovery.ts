// Reads PCI devices from sys/bus/pci/devices into the plain PciDevice values of pci-device.ts.
// One reader serves one discovery pass: it remembers each device and each driver's module, so a
// device seen as a GPU and again as a group member is read once.

import type { HostIO } from './host-io';
import { isPciAddress } from './pci-address';
import type { PciDevice } from './pci-device';
import { pciDriverModule } from './modules';
import { systemPciNamer, type PciNamer } from './pci-ids';

const DEVICES = 'sys/bus/pci/devices';
const HEADER_TYPE_OFFSET = 0x0e;

/** Addresses of every PCI device the kernel lists. */
export function listPciAddresses(io: HostIO): string[] {
  return io.list(DEVICES).filter(isPciAddress);
}

export function pciDeviceExists(io: HostIO, address: string): boolean {
  return io.exists(`${DEVICES}/${address}`);
}

/** "0x030000" -> "030000"; the class attribute alone tells display devices apart cheaply. */
export function readPciClass(io: HostIO, address: string): string | undefined {
  return hexAttribute(io.readText(`${DEVICES}/${address}/class`), 6);
}

/** The IOMMU group number from the device's iommu_group link, or null when the kernel made none. */
export function readIommuGroupOf(io: HostIO, address: string): string | null {
  return io.readLinkName(`${DEVICES}/${address}/iommu_group`) ?? null;
}

export class PciDeviceReader {
  private readonly devices = new Map<string, PciDevice | undefined>();
  private readonly modules = new Map<string, string | null>();

  /** `unreadable`: functions whose driver_override is not read (their PciDevice shows null): the
   *  kernel holds their device lock in an unbind from vfio-pci it has not finished (engine/left-to-kernel.ts),
   *  and the read would block until the VM lets go. Links take no device lock and are still read. */
  constructor(
    private readonly io: HostIO,
    private readonly namer: PciNamer = systemPciNamer(io),
    private readonly unreadable: ReadonlySet<string> = new Set(),
  ) {}

  /** The device at `address`, or undefined when the kernel does not list it (absent or just removed). */
  read(address: string): PciDevice | undefined {
    if (!this.devices.has(address)) this.devices.set(address, this.readFresh(address));
    return this.devices.get(address);
  }

  private readFresh(address: string): PciDevice | undefined {
    const dir = `${DEVICES}/${address}`;
    const io = this.io;
    const vendorId = hexAttribute(io.readText(`${dir}/vendor`), 4);
    const deviceId = hexAttribute(io.readText(`${dir}/device`), 4);
    const classCode = readPciClass(io, address);
    if (!vendorId || !deviceId || !classCode) return undefined;
    const subsystemVendorId = hexAttribute(io.readText(`${dir}/subsystem_vendor`), 4) ?? null;
    const subsystemDeviceId = hexAttribute(io.readText(`${dir}/subsystem_device`), 4) ?? null;
    const headerType = readHeaderType(io, address) ?? headerTypeFromClass(classCode);
    const driver = io.readLinkName(`${dir}/driver`) ?? null;
    const override = this.unreadable.has(address) ? undefined : io.readText(`${dir}/driver_override`);
    return {
      address,
      vendorId,
      deviceId,
      subsystemVendorId,
      subsystemDeviceId,
      classCode,
      headerType,
      isBridge: headerType === 1 || headerType === 2,
      driver,
      driverModule: driver === null ? null : this.moduleOf(driver),
      driverOverride: override === undefined || override === '' || override === '(null)' ? null : override,
      bootVga: io.readText(`${dir}/boot_vga`) === '1',
      iommuGroup: readIommuGroupOf(io, address),
      name: this.namer.name({ vendorId, deviceId, subsystemVendorId, subsystemDeviceId }),
    };
  }

  private moduleOf(driver: string): string | null {
    if (!this.modules.has(driver)) this.modules.set(driver, pciDriverModule(this.io, driver));
    return this.modules.get(driver) ?? null;
  }
}

/** Header type from config space byte 0x0e without the multi-function bit; undefined when the config
 *  file cannot be read. Read as bytes: HostIO's text reads would mangle values >= 0x80. */
export function readHeaderType(io: HostIO, address: string): number | undefined {
  const bytes = io.readBytes(`${DEVICES}/${address}/config`, HEADER_TYPE_OFFSET, 1);
  return bytes && bytes.length === 1 ? bytes[0] & 0x7f : undefined;
}

/** When config space is unreadable, the class says the same for PCI (0604) and CardBus (0607) bridges. */
function headerTypeFromClass(classCode: string): number {
  if (classCode.startsWith('0604')) return 1;
  if (classCode.startsWith('0607')) return 2;
  return 0;
}

/** "0x10DE" -> "10de", padded to `width` hex digits; undefined for a missing or malformed value. */
function hexAttribute(text: string | undefined, width: number): string | undefined {
  if (text === undefined) return undefined;
  const hex = text.trim().toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > width) return undefined;
  return hex.padStart(width, '0');
}
