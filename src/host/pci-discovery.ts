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

/** "0x030000" -> "030000"; the class attribute alone tells display devices apart cheaply. */
export function readPciClass(io: HostIO, address: string): string | undefined {
  return hexAttribute(io.readText(`${DEVICES}/${address}/class`), 6);
}

/** The IOMMU group number from the device's iommu_group link, or null when the kernel made none. */
export function readIommuGroupOf(io: HostIO, address: string): string | null {
  return io.readLinkName(`${DEVICES}/${address}/iommu_group`) ?? null;
}

export interface ReaderOptions {
  namer?: PciNamer;
  /** Functions whose driver_override is not read (their PciDevice shows null): the kernel holds their
   *  device lock in an unbind from vfio-pci it has not finished (engine/left-to-kernel.ts), and the
   *  read would block until the VM lets go. Links take no device lock and are still read. */
  unreadable?: ReadonlySet<string>;
  /**
   * Each driver's module, kept across passes by a caller that lives long (the engine): a PCI driver
   * is registered by one module, under its own name, so the answer stands while the process lives.
   * Built-in drivers (no module) are asked each time.
   */
  driverModules?: Map<string, string>;
}

export class PciDeviceReader {
  private readonly devices = new Map<string, PciDevice | undefined>();
  private readonly namer: PciNamer;
  private readonly unreadable: ReadonlySet<string>;
  private readonly modules: Map<string, string>;

  constructor(
    private readonly io: HostIO,
    options: ReaderOptions = {},
  ) {
    this.namer = options.namer ?? systemPciNamer(io);
    this.unreadable = options.unreadable ?? new Set();
    this.modules = options.driverModules ?? new Map();
  }

  /** The device at `address`, or undefined when the kernel does not list it (absent or just removed).
   *  `group`: its IOMMU group when the caller found it in that group's directory (one read less). */
  read(address: string, group?: string): PciDevice | undefined {
    if (!this.devices.has(address)) this.devices.set(address, this.readFresh(address, group));
    return this.devices.get(address);
  }

  private readFresh(address: string, group: string | undefined): PciDevice | undefined {
    const dir = `${DEVICES}/${address}`;
    const io = this.io;
    // The class attribute, not config space: the kernel's quirks correct some devices' class there.
    const classCode = readPciClass(io, address);
    if (!classCode) return undefined;
    const ids = this.readIds(address, classCode);
    if (!ids) return undefined;
    const driver = io.readLinkName(`${dir}/driver`) ?? null;
    const override = this.unreadable.has(address) ? undefined : io.readText(`${dir}/driver_override`);
    return {
      address,
      ...ids,
      classCode,
      isBridge: ids.headerType === 1 || ids.headerType === 2,
      driver,
      driverModule: driver === null ? null : this.moduleOf(driver),
      driverOverride: override === undefined || override === '' || override === '(null)' ? null : override,
      // The kernel shows boot_vga on VGA-class devices only.
      bootVga: classCode.startsWith(VGA_CLASS) && io.readText(`${dir}/boot_vga`) === '1',
      iommuGroup: group ?? readIommuGroupOf(io, address),
      name: this.namer.name(ids),
    };
  }

  /**
   * Vendor, device, subsystem ids and header type from the first bytes of config space: one read
   * where six attributes would take six (each costs as much as the whole read).
   * The attributes where config space does not hold them as the kernel shows them: an SR-IOV virtual
   * function reads vendor ffff there, a bridge keeps its subsystem ids in a capability.
   */
  private readIds(address: string, classCode: string): DeviceIds | undefined {
    const dir = `${DEVICES}/${address}`;
    const io = this.io;
    const config = io.readBytes(`${dir}/config`, 0, CONFIG_HEADER_BYTES);
    const fromConfig = config && config.length === CONFIG_HEADER_BYTES ? idsFromConfig(config) : undefined;
    if (fromConfig && fromConfig.headerType === 0) return fromConfig;
    const vendorId = hexAttribute(io.readText(`${dir}/vendor`), 4);
    const deviceId = hexAttribute(io.readText(`${dir}/device`), 4);
    if (!vendorId || !deviceId) return undefined;
    return {
      vendorId,
      deviceId,
      subsystemVendorId: hexAttribute(io.readText(`${dir}/subsystem_vendor`), 4) ?? null,
      subsystemDeviceId: hexAttribute(io.readText(`${dir}/subsystem_device`), 4) ?? null,
      headerType: fromConfig?.headerType ?? headerTypeFromClass(classCode),
    };
  }

  private moduleOf(driver: string): string | null {
    const known = this.modules.get(driver);
    if (known !== undefined) return known;
    const module = pciDriverModule(this.io, driver);
    if (module !== null) this.modules.set(driver, module);
    return module;
  }
}

interface DeviceIds {
  vendorId: string;
  deviceId: string;
  subsystemVendorId: string | null;
  subsystemDeviceId: string | null;
  headerType: number;
}

/** Config space up to the subsystem ids (0x2c-0x2f); unprivileged readers may read the first 64 bytes. */
const CONFIG_HEADER_BYTES = 0x30;
const VGA_CLASS = '0300';

/** The ids as a type 0 header holds them; undefined for a function config space does not name (vendor ffff). */
function idsFromConfig(config: Buffer): DeviceIds | undefined {
  const vendor = config.readUInt16LE(0x00);
  if (vendor === 0xffff) return undefined;
  const hex = (n: number): string => n.toString(16).padStart(4, '0');
  return {
    vendorId: hex(vendor),
    deviceId: hex(config.readUInt16LE(0x02)),
    subsystemVendorId: hex(config.readUInt16LE(0x2c)),
    subsystemDeviceId: hex(config.readUInt16LE(0x2e)),
    headerType: config[HEADER_TYPE_OFFSET] & 0x7f,
  };
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
