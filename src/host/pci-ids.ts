// Human names for PCI ids from the system's pci.ids (the file lspci reads). The file is 1.3 MB;
// parsing all of it would cost more than the whole planning budget, so it is kept as bytes and
// searched for just the ids asked about, and each answer is remembered.

import * as fs from 'node:fs';
import type { HostIO } from './host-io';

export interface PciIds {
  vendorId: string;
  deviceId: string;
  subsystemVendorId: string | null;
  subsystemDeviceId: string | null;
}

export interface PciIdNames {
  vendor?: string;
  device?: string;
  subsystem?: string;
}

export interface PciNamer {
  name(ids: PciIds): string;
}

interface Entry {
  name: string;
  /** Where the entry's children start (the end of its own line) and end. */
  start: number;
  end: number;
}

/** A pci.ids file searched in place. Vendor lines: "10de  NVIDIA Corporation"; device lines one tab
 *  deeper ("\t1f08  TU106 ..."); subsystem lines two tabs ("\t\t1043 86d2  ROG ..."). The text is
 *  held as latin1 so string offsets are byte offsets; names are decoded as UTF-8 when found. */
export class PciIdsDatabase {
  private readonly text: string;
  private readonly vendors = new Map<string, Entry | null>();
  private readonly answers = new Map<string, PciIdNames>();

  constructor(data: Buffer) {
    this.text = data.toString('latin1');
  }

  static fromText(text: string): PciIdsDatabase {
    return new PciIdsDatabase(Buffer.from(text, 'utf8'));
  }

  lookup(ids: PciIds): PciIdNames {
    const key = `${ids.vendorId}:${ids.deviceId}:${ids.subsystemVendorId ?? ''}:${ids.subsystemDeviceId ?? ''}`;
    let answer = this.answers.get(key);
    if (!answer) {
      answer = this.search(ids);
      this.answers.set(key, answer);
    }
    return answer;
  }

  private search(ids: PciIds): PciIdNames {
    const vendor = this.vendor(ids.vendorId.toLowerCase());
    if (!vendor) return {};
    const device = this.entry(`\t${ids.deviceId.toLowerCase()}  `, vendor, 1);
    if (!device) return { vendor: vendor.name };
    if (ids.subsystemVendorId === null || ids.subsystemDeviceId === null) {
      return { vendor: vendor.name, device: device.name };
    }
    const sub = `\t\t${ids.subsystemVendorId.toLowerCase()} ${ids.subsystemDeviceId.toLowerCase()}  `;
    const subsystem = this.entry(sub, device, 2);
    return subsystem
      ? { vendor: vendor.name, device: device.name, subsystem: subsystem.name }
      : { vendor: vendor.name, device: device.name };
  }

  private vendor(vendorId: string): Entry | null {
    let found = this.vendors.get(vendorId);
    if (found === undefined) {
      found = this.entry(`${vendorId}  `, { name: '', start: 0, end: this.text.length }, 0);
      this.vendors.set(vendorId, found);
    }
    return found;
  }

  /** The line "<prefix><name>" among the children of `parent`, at `depth` tabs. */
  private entry(prefix: string, parent: Entry, depth: number): Entry | null {
    const lineStart = this.findLine(prefix, parent.start);
    if (lineStart < 0 || lineStart >= parent.end) return null;
    let lineEnd = this.text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = this.text.length;
    const name = Buffer.from(this.text.slice(lineStart + prefix.length, lineEnd), 'latin1').toString('utf8').trim();
    return { name, start: lineEnd, end: Math.min(this.childrenEnd(lineEnd, depth + 1), parent.end) };
  }

  private findLine(prefix: string, from: number): number {
    if (from === 0 && this.text.startsWith(prefix)) return 0;
    const at = this.text.indexOf(`\n${prefix}`, from);
    return at < 0 ? -1 : at + 1;
  }

  /** End of the lines after `from` indented by at least `depth` tabs (comments and blank lines included). */
  private childrenEnd(from: number, depth: number): number {
    const next = CHILDREN_END[depth - 1];
    next.lastIndex = from;
    return next.exec(this.text)?.index ?? this.text.length;
  }
}

// For depth 1, 2, 3: a newline followed by a line that is neither indented `depth` tabs, a comment, nor blank.
const CHILDREN_END = [1, 2, 3].map((depth) => new RegExp(`\\n(?!\\t{${depth}}|#|\\n)`, 'g'));

/** "NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]", with the subsystem in parentheses when
 *  pci.ids lists it; "10de:1f08" when the file does not know the device. */
export function formatPciName(ids: PciIds, names: PciIdNames): string {
  if (names.vendor && names.device) {
    return names.subsystem ? `${names.vendor} ${names.device} (${names.subsystem})` : `${names.vendor} ${names.device}`;
  }
  if (names.vendor) return `${names.vendor} device ${ids.deviceId}`;
  return `${ids.vendorId}:${ids.deviceId}`;
}

/** Where pci.ids may live: first inside the host root, then on this machine (reading it is harmless). */
export function pciIdsPaths(io: HostIO): string[] {
  const rel = ['usr/share/misc/pci.ids', 'usr/share/hwdata/pci.ids'];
  const all = [...rel.map((p) => io.abs(p)), ...rel.map((p) => `/${p}`)];
  return [...new Set(all)];
}

// One database per file for the life of the process; a changed file (package upgrade) is re-read.
const opened = new Map<string, { mtimeMs: number; size: number; db: PciIdsDatabase }>();

function openPciIds(file: string): PciIdsDatabase | null {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return null;
  }
  const cached = opened.get(file);
  if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.db;
  const db = new PciIdsDatabase(fs.readFileSync(file));
  opened.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, db });
  return db;
}

/** Names devices from the first pci.ids found in `paths`; opens it only when a name is first asked for. */
export function pciNamer(paths: readonly string[]): PciNamer {
  let db: PciIdsDatabase | null | undefined;
  return {
    name(ids: PciIds): string {
      if (db === undefined) db = paths.reduce<PciIdsDatabase | null>((found, p) => found ?? openPciIds(p), null);
      return formatPciName(ids, db ? db.lookup(ids) : {});
    },
  };
}

export function systemPciNamer(io: HostIO): PciNamer {
  return pciNamer(pciIdsPaths(io));
}
