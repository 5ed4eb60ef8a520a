// The root-relative sysfs paths the steps use and the few reads they need. Names that come from a
// journal on disk (driver names, group ids) are checked before they become path components.

import type { HostIO } from '../host/host-io';
import { parsePciAddress } from '../host/pci-address';
import { readIommuGroupOf } from '../host/pci-discovery';
import type { PciDevice } from '../host/pci-device';

export const DRIVERS_PROBE = 'sys/bus/pci/drivers_probe';

/** A driver name or IOMMU group id as the kernel spells them; anything else never becomes a path. */
function pathComponent(what: string, name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name) || name === '.' || name === '..') {
    throw new Error(`refusing ${what} ${JSON.stringify(name)}: not a name the kernel uses`);
  }
  return name;
}

export function devicePath(address: string, attribute: string): string {
  return `sys/bus/pci/devices/${parsePciAddress(address)}/${attribute}`;
}

export function driverPath(driver: string, attribute?: string): string {
  const dir = `sys/bus/pci/drivers/${pathComponent('driver name', driver)}`;
  return attribute ? `${dir}/${attribute}` : dir;
}

export function vfioGroupPath(group: string): string {
  return `dev/vfio/${pathComponent('IOMMU group', group)}`;
}

/** The bound driver's name, or null when the function is unbound. */
export function boundDriver(io: HostIO, address: string): string | null {
  return io.readLinkName(devicePath(address, 'driver')) ?? null;
}

/** driver_override, null when unset (the kernel reads back "(null)"). */
export function driverOverride(io: HostIO, address: string): string | null {
  const text = io.readText(devicePath(address, 'driver_override'));
  return text === undefined || text === '' || text === '(null)' ? null : text;
}

export function driverRegistered(io: HostIO, driver: string): boolean {
  return io.exists(driverPath(driver));
}

/** What to write to driver_override for `value`: a lone newline clears it. */
export function overrideWriteValue(value: string | null): string {
  return value === null ? '\n' : value;
}

/** The running kernel's boot_id: journals and records from another boot describe a host that is gone. */
export function currentBootId(io: HostIO): string | null {
  return io.readText('proc/sys/kernel/random/boot_id') ?? null;
}

/** What the kernel may change about a function between two transitions; its identity it cannot. */
export type FunctionNow = Pick<PciDevice, 'address' | 'driver' | 'driverOverride'>;

/**
 * The driver and driver_override now of each of `addresses` still in IOMMU group `group` (one gone
 * from the group, or from the host, is left out): all an attach with a record needs to know, in
 * three reads a function where a full discovery takes seven (bench/lab-bench.ts). `inGroup`: a
 * function the caller just found in `group` (the GPU it locked the group for), not asked again.
 */
export function functionsNow(io: HostIO, addresses: readonly string[], group: string, inGroup?: string): FunctionNow[] {
  return addresses
    .filter((address) => address === inGroup || readIommuGroupOf(io, address) === group)
    .map((address) => ({ address, driver: boundDriver(io, address), driverOverride: driverOverride(io, address) }));
}
