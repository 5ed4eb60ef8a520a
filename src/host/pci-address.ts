// PCI addresses arrive from D-Bus callers, domain XML and the command line. They become sysfs
// path components, so they are validated here, before any path is built from them.

const FULL = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;
const SHORT = /^([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;

export class InvalidPciAddressError extends Error {
  constructor(readonly input: string) {
    super(
      `"${printable(input)}" is not a PCI address: write it as domain:bus:slot.function in hex, ` +
        `e.g. 0000:01:00.0 (see gpu-hookctl list)`,
    );
    this.name = 'InvalidPciAddressError';
  }
}

/** Normalises "01:00.0" or "0000:01:00.0" (any case) to "0000:01:00.0"; throws on anything else. */
export function parsePciAddress(input: string): string {
  if (typeof input !== 'string' || input.length > 16) throw new InvalidPciAddressError(String(input));
  const lower = input.trim().toLowerCase();
  if (FULL.test(lower)) return lower;
  const short = SHORT.exec(lower);
  if (short) return `0000:${lower}`;
  throw new InvalidPciAddressError(input);
}

export function isPciAddress(input: string): boolean {
  try {
    parsePciAddress(input);
    return true;
  } catch {
    return false;
  }
}

/** "0000:01:00.0" -> "0000:01:00" (the slot: functions of one card share it). */
export function slotOf(address: string): string {
  return address.slice(0, address.lastIndexOf('.'));
}

/** Builds a pci address from libvirt's <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>. */
export function pciAddressFromParts(domain: string, bus: string, slot: string, fn: string): string {
  const hex = (v: string, width: number, max: number): string => {
    const text = v.trim().toLowerCase().replace(/^0x/, '');
    if (!/^[0-9a-f]{1,8}$/.test(text)) throw new InvalidPciAddressError(`${domain}:${bus}:${slot}.${fn}`);
    const n = parseInt(text, 16);
    if (n > max) throw new InvalidPciAddressError(`${domain}:${bus}:${slot}.${fn}`);
    return n.toString(16).padStart(width, '0');
  };
  return `${hex(domain, 4, 0xffff)}:${hex(bus, 2, 0xff)}:${hex(slot, 2, 0x1f)}.${hex(fn, 1, 7)}`;
}

/** Keeps error messages one readable line even for hostile input. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = String(s).replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 40)}...` : clean;
}
