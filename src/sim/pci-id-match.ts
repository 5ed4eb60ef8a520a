// How a PCI driver decides that a device is "its" device: the kernel's struct pci_device_id
// (vendor, device, subvendor, subdevice, class, class_mask), from a driver's static table or from
// a new_id write. Scenario files spell static entries compactly ("10de:*:03").

export const PCI_ANY_ID = 0xffffffff;

export interface PciIdEntry {
  vendor: number;
  device: number;
  subvendor: number;
  subdevice: number;
  class: number;
  classMask: number;
}

export interface PciIdentity {
  vendor: string;
  device: string;
  subsystemVendor: string;
  subsystemDevice: string;
  /** Six hex digits. */
  class: string;
}

/** "vendor:device[:classprefix]" with "*" for any; the class prefix is 2, 4 or 6 hex digits. */
export function parseIdPattern(pattern: string): PciIdEntry | null {
  const m = /^(\*|[0-9a-f]{4}):(\*|[0-9a-f]{4})(?::([0-9a-f]{2}|[0-9a-f]{4}|[0-9a-f]{6}))?$/i.exec(pattern);
  if (!m) return null;
  const prefix = m[3] ?? '';
  const bits = prefix.length * 4;
  return {
    vendor: m[1] === '*' ? PCI_ANY_ID : parseInt(m[1], 16),
    device: m[2] === '*' ? PCI_ANY_ID : parseInt(m[2], 16),
    subvendor: PCI_ANY_ID,
    subdevice: PCI_ANY_ID,
    class: prefix ? parseInt(prefix, 16) << (24 - bits) : 0,
    classMask: prefix ? (0xffffff << (24 - bits)) & 0xffffff : 0,
  };
}

/**
 * Parses what new_id / remove_id accept: "vendor device [subvendor subdevice class class_mask
 * [driver_data]]" in hex, fields after the first two optional. Null when the kernel would say EINVAL.
 */
export function parseNewId(value: string): PciIdEntry | null {
  const fields = value.trim().split(/\s+/);
  if (fields.length < 2 || fields.length > 7 || !fields.every((x) => /^(0x)?[0-9a-f]{1,8}$/i.test(x))) return null;
  const n = fields.map((x) => parseInt(x, 16));
  return {
    vendor: n[0],
    device: n[1],
    subvendor: n[2] ?? PCI_ANY_ID,
    subdevice: n[3] ?? PCI_ANY_ID,
    class: n[4] ?? 0,
    classMask: n[5] ?? 0,
  };
}

export function idMatches(entry: PciIdEntry, dev: PciIdentity): boolean {
  const field = (want: number, have: string) => want === PCI_ANY_ID || want === parseInt(have, 16);
  return (
    field(entry.vendor, dev.vendor) &&
    field(entry.device, dev.device) &&
    field(entry.subvendor, dev.subsystemVendor) &&
    field(entry.subdevice, dev.subsystemDevice) &&
    ((entry.class ^ parseInt(dev.class, 16)) & entry.classMask) === 0
  );
}

export function sameId(a: PciIdEntry, b: PciIdEntry): boolean {
  return (
    a.vendor === b.vendor &&
    a.device === b.device &&
    a.subvendor === b.subvendor &&
    a.subdevice === b.subdevice &&
    a.class === b.class &&
    a.classMask === b.classMask
  );
}
