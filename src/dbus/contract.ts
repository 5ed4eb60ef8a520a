// The introspection XML is the contract; the binding is derived from it, so the bus can never
// advertise a member the contract does not document (and a test compares the live result anyway).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { XMLParser } from 'fast-xml-parser';

export const BUS_NAME = 'org.gpuhookd1';
export const MANAGER_PATH = '/org/gpuhookd1';
export const MANAGER_IFACE = 'org.gpuhookd1.Manager';
export const GPU_IFACE = 'org.gpuhookd1.Gpu';
export const ERROR_PREFIX = 'org.gpuhookd1.Error';

/** /org/gpuhookd1/gpu/0000_01_00_0 for 0000:01:00.0 (addresses are validated before they get here). */
export function gpuObjectPath(address: string): string {
  return `${MANAGER_PATH}/gpu/${address.replace(/[:.]/g, '_')}`;
}

export interface ArgSpec {
  name: string;
  type: string;
  direction: 'in' | 'out';
}
export interface MethodSpec {
  name: string;
  args: ArgSpec[];
}
export interface PropertySpec {
  name: string;
  type: string;
  access: 'read' | 'write' | 'readwrite';
}
export interface SignalSpec {
  name: string;
  args: { name: string; type: string }[];
}
export interface InterfaceSpec {
  name: string;
  methods: MethodSpec[];
  properties: PropertySpec[];
  signals: SignalSpec[];
}

export function contractXmlPath(): string {
  // Built code lives in dist/src/dbus; the XML is copied beside it by the build, and read from the
  // source tree when running from a checkout that was built without the copy.
  const candidates = [path.join(__dirname, 'org.gpuhookd1.xml'), path.join(__dirname, '../../../src/dbus/org.gpuhookd1.xml')];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`the D-Bus contract org.gpuhookd1.xml is missing (looked in ${candidates.join(', ')}): reinstall gpu-hookd`);
  return found;
}

export function readContractXml(): string {
  return fs.readFileSync(contractXmlPath(), 'utf8');
}

type Node = Record<string, unknown>;
const list = (v: unknown): Node[] => (v === undefined ? [] : Array.isArray(v) ? (v as Node[]) : [v as Node]);

/** Parses introspection XML (ours, or a live Introspect answer) into plain interface specs. */
export function parseIntrospection(xml: string): InterfaceSpec[] {
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', processEntities: false }).parse(xml) as Node;
  const node = (doc.node ?? {}) as Node;
  return list(node.interface).map((iface) => ({
    name: String(iface.name),
    methods: list(iface.method).map((m) => ({
      name: String(m.name),
      args: list(m.arg).map((a) => ({ name: String(a.name ?? ''), type: String(a.type), direction: a.direction === 'out' ? 'out' : 'in' })),
    })),
    properties: list(iface.property).map((p) => ({ name: String(p.name), type: String(p.type), access: p.access as PropertySpec['access'] })),
    signals: list(iface.signal).map((s) => ({
      name: String(s.name),
      args: list(s.arg).map((a) => ({ name: String(a.name ?? ''), type: String(a.type) })),
    })),
  }));
}

export function contractInterface(name: string): InterfaceSpec {
  const spec = parseIntrospection(readContractXml()).find((i) => i.name === name);
  if (!spec) throw new Error(`interface ${name} is not in the D-Bus contract`);
  return spec;
}

/** The object dbus-next's Interface.configureMembers expects, for one interface of the contract. */
export function dbusNextMembers(spec: InterfaceSpec): {
  properties: Record<string, { signature: string; access: 'read' | 'write' | 'readwrite' }>;
  methods: Record<string, { inSignature: string; outSignature: string }>;
  signals: Record<string, { signature: string }>;
} {
  const sig = (args: { type: string }[]): string => args.map((a) => a.type).join('');
  return {
    properties: Object.fromEntries(spec.properties.map((p) => [p.name, { signature: p.type, access: p.access }])),
    methods: Object.fromEntries(
      spec.methods.map((m) => [m.name, { inSignature: sig(m.args.filter((a) => a.direction === 'in')), outSignature: sig(m.args.filter((a) => a.direction === 'out')) }]),
    ),
    signals: Object.fromEntries(spec.signals.map((s) => [s.name, { signature: sig(s.args) }])),
  };
}

/** 0000:01:00.0 for /org/gpuhookd1/gpu/0000_01_00_0 (the inverse of gpuObjectPath); undefined for any other path. */
export function gpuAddressOfPath(objectPath: string): string | undefined {
  const m = /^\/org\/gpuhookd1\/gpu\/([0-9a-f]{4})_([0-9a-f]{2})_([0-9a-f]{2})_([0-7])$/.exec(objectPath);
  return m ? `${m[1]}:${m[2]}:${m[3]}.${m[4]}` : undefined;
}
