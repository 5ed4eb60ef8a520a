// PCI addresses arrive from D-Bus callers, domain XML and the command line. They become sysfs
// path components, so they are validated here, before any path is built from them.

const FULL = /^([0-9a-f]{4}):([0-9a-f]{2}):([01][0-9a-f])\.([0-7])$/; // slot is 5 bits: 00-1f
const SHORT = /^([0-9a-f]{2}):([01][0-9a-f])\.([0-7])$/;

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

/**
 * Builds a pci address from libvirt's <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>.
 * libvirt reads these numbers as C's strtol with base 0 does: "0x" means hex, a leading "0" octal,
 * anything else decimal (bus='10' is bus 0x0a). We read them the same way, so we act on the device
 * libvirt acts on.
 */
export function pciAddressFromParts(domain: string, bus: string, slot: string, fn: string): string {
  const shown = `${domain}:${bus}:${slot}.${fn}`;
  const field = (v: string, width: number, max: number): string => {
    const n = parseCNumber(v);
    if (n === undefined || n > max) throw new InvalidPciAddressError(shown);
    return n.toString(16).padStart(width, '0');
  };
  return `${field(domain, 4, 0xffff)}:${field(bus, 2, 0xff)}:${field(slot, 2, 0x1f)}.${field(fn, 1, 7)}`;
}

/** strtol(s, NULL, 0) for non-negative numbers; undefined for anything that is not entirely a number. */
export function parseCNumber(input: string): number | undefined {
  const s = String(input).trim().toLowerCase();
  let n: number;
  if (/^0x[0-9a-f]{1,8}$/.test(s)) n = parseInt(s.slice(2), 16);
  else if (/^0[0-7]{0,11}$/.test(s)) n = parseInt(s, 8);
  else if (/^[1-9][0-9]{0,9}$/.test(s)) n = parseInt(s, 10);
  else return undefined;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Keeps error messages one readable line even for hostile input. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = String(s).replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 40)}...` : clean;
}
