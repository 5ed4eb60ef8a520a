// Test domains must never reach this machine's own hardware. libvirt acts on the REAL PCI device at
// every address a domain names (managed='yes' unbinds it, 'no' still resets it), and on this
// machine 0000:00:01.0-0000:00:05.0 are its disk and network. So every test domain is checked here,
// in code, before libvirt sees it: each PCI address it names must be absent from this machine's
// /sys/bus/pci/devices (read-only listing), and it may hold no host block device and no other kind
// of host device. The builder makes the small diskless TCG domains the e2e tests run.

import * as fs from 'node:fs';
import { XMLValidator } from 'fast-xml-parser';
import { libvirtXmlParser, type XmlNode } from '../../src/libvirt/xml-node';

export const REAL_PCI_DEVICES_DIR = '/sys/bus/pci/devices';

export class UnsafeDomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeDomainError';
  }
}

export interface TestHostdev {
  /** A PCI address that does not exist on this machine, e.g. "0000:0a:00.0". */
  address: string;
  /** Default false: libvirt then leaves binding to us. */
  managed?: boolean;
}

export interface TestDomainSpec {
  name: string;
  /** Default 1. */
  vcpus?: number;
  /** <vcpu cpuset='...'>. */
  vcpuCpuset?: string;
  /** Default 64. */
  memoryMiB?: number;
  /** Raw XML placed inside <metadata>; each element in its own namespace, as libvirt requires. */
  metadata?: string;
  hostdevs?: TestHostdev[];
  cputune?: { vcpupins?: { vcpu: number; cpuset: string }[]; emulatorpin?: string };
  topology?: { sockets: number; cores: number; threads: number };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const CPUSET = /^[0-9,^-]+$/;

/** Builds a small diskless TCG domain (64 MiB, no USB controller, no balloon) and checks it is safe. */
export function safeDomainXml(spec: TestDomainSpec, pciDevicesDir = REAL_PCI_DEVICES_DIR): string {
  const xml = buildTestDomainXml(spec);
  assertDomainSafe(xml, pciDevicesDir);
  return xml;
}

export function buildTestDomainXml(spec: TestDomainSpec): string {
  if (!NAME.test(spec.name)) throw new Error(`test domain name ${JSON.stringify(spec.name)} must be 1-64 letters, digits, '_', '.', '-'`);
  const vcpus = spec.vcpus ?? 1;
  const cpuset = spec.vcpuCpuset === undefined ? '' : ` cpuset='${checkCpuset(spec.vcpuCpuset)}'`;
  const lines = [
    `<domain type='qemu'>`,
    `  <name>${spec.name}</name>`,
    `  <memory unit='MiB'>${positive(spec.memoryMiB ?? 64, 'memoryMiB')}</memory>`,
    `  <vcpu placement='static'${cpuset}>${positive(vcpus, 'vcpus')}</vcpu>`,
  ];
  if (spec.metadata !== undefined) lines.push('  <metadata>', `    ${spec.metadata}`, '  </metadata>');
  if (spec.cputune) {
    lines.push('  <cputune>');
    for (const pin of spec.cputune.vcpupins ?? []) lines.push(`    <vcpupin vcpu='${pin.vcpu}' cpuset='${checkCpuset(pin.cpuset)}'/>`);
    if (spec.cputune.emulatorpin !== undefined) lines.push(`    <emulatorpin cpuset='${checkCpuset(spec.cputune.emulatorpin)}'/>`);
    lines.push('  </cputune>');
  }
  lines.push(`  <os><type arch='x86_64' machine='pc'>hvm</type></os>`);
  if (spec.topology) {
    const t = spec.topology;
    lines.push(`  <cpu><topology sockets='${t.sockets}' dies='1' cores='${t.cores}' threads='${t.threads}'/></cpu>`);
  }
  lines.push('  <devices>', '    <emulator>/usr/bin/qemu-system-x86_64</emulator>', `    <controller type='usb' model='none'/>`);
  for (const dev of spec.hostdevs ?? []) lines.push(...hostdevXml(dev));
  lines.push(`    <memballoon model='none'/>`, '  </devices>', '</domain>', '');
  return lines.join('\n');
}

function hostdevXml(dev: TestHostdev): string[] {
  const m = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(dev.address.toLowerCase());
  if (!m) throw new Error(`test hostdev address ${JSON.stringify(dev.address)} is not a full PCI address such as 0000:0a:00.0`);
  return [
    `    <hostdev mode='subsystem' type='pci' managed='${dev.managed ? 'yes' : 'no'}'>`,
    `      <source><address domain='0x${m[1]}' bus='0x${m[2]}' slot='0x${m[3]}' function='0x${m[4]}'/></source>`,
    '    </hostdev>',
  ];
}

function positive(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new Error(`test domain ${what} must be a positive integer, not ${n}`);
  return n;
}

function checkCpuset(cpuset: string): string {
  if (!CPUSET.test(cpuset)) throw new Error(`cpuset ${JSON.stringify(cpuset)} is not a libvirt cpuset such as "0-1,3"`);
  return cpuset;
}

const parser = libvirtXmlParser();

/**
 * Throws UnsafeDomainError unless every PCI address in the domain (hostdevs, interfaces of type
 * hostdev) is absent from `pciDevicesDir`, and the domain holds no disk, filesystem or non-PCI host
 * device. Unparseable XML and an unreadable device listing are refused too: the check fails closed.
 * Returns the domain's name as libvirt reads it (entities decoded: "a&amp;b" is the domain a&b).
 */
export function assertDomainSafe(xml: string, pciDevicesDir = REAL_PCI_DEVICES_DIR): string {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new UnsafeDomainError('the test domain XML has a DOCTYPE or entity declaration: refusing to define it');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new UnsafeDomainError(`the test domain XML is malformed (line ${valid.err.line}: ${valid.err.msg}): refusing to define it`);
  const domain = (parser.parse(xml) as XmlNode).domain;
  if (!isNode(domain)) throw new UnsafeDomainError('the test domain XML has no <domain> root element: refusing to define it');
  const name = typeof domain.name === 'string' ? decodeXmlText(domain.name).trim() : '';
  if (!name) throw new UnsafeDomainError('the test domain XML has no <name>: refusing to define it');
  const present = existingPciAddresses(pciDevicesDir);

  for (const [tag, node] of descendants(domain)) {
    if (tag === 'disk' || tag === 'filesystem') {
      throw new UnsafeDomainError(`test domain ${name} has a <${tag}>: test domains run without disks, so none can reach a host block device; remove it`);
    }
    const isHostdev = tag === 'hostdev';
    const isHostdevInterface = tag === 'interface' && node['@type'] === 'hostdev';
    if (!isHostdev && !isHostdevInterface) continue;
    if (isHostdev && (node['@mode'] ?? 'subsystem') !== 'subsystem') {
      throw new UnsafeDomainError(`test domain ${name} has a <hostdev mode='${String(node['@mode'])}'>, which hands a host device to the guest; only PCI hostdevs at absent addresses are allowed`);
    }
    if (isHostdev && node['@type'] !== 'pci') {
      throw new UnsafeDomainError(`test domain ${name} has a <hostdev type='${String(node['@type'])}'>; only PCI hostdevs at addresses absent from this machine are allowed`);
    }
    for (const address of libvirtPciAddressReadings(sourceAddress(node), name)) {
      if (present.has(address)) {
        throw new UnsafeDomainError(
          `test domain ${name} names PCI device ${address} in <${tag}>, which exists on this machine (${pciDevicesDir}/${address}): ` +
            `libvirt would take it from the host; use an address this machine lacks, such as 0000:0a:00.0`,
        );
      }
    }
  }
  return name;
}

const PREDEFINED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * Text as an XML reader sees it: XML's five predefined entities and character references decoded.
 * The parser keeps entities as written so that an encoded PCI address fails the numeric check.
 */
function decodeXmlText(text: string): string {
  return text.replace(/&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|(amp|lt|gt|quot|apos));/g, (reference, hex?: string, dec?: string, named?: string) => {
    if (named !== undefined) return PREDEFINED_ENTITIES[named];
    const codePoint = hex !== undefined ? parseInt(hex, 16) : parseInt(dec as string, 10);
    if (codePoint > 0x10ffff) throw new UnsafeDomainError(`the test domain XML has ${reference}, which is no character: refusing to define it`);
    return String.fromCodePoint(codePoint);
  });
}

function sourceAddress(node: XmlNode): XmlNode {
  const source = node.source;
  const address = isNode(source) ? source.address : undefined;
  if (!isNode(address)) throw new UnsafeDomainError('a test domain <hostdev> has no <source><address .../></source>: refusing it, its device cannot be checked');
  return address;
}

/**
 * Every address the attributes could mean. libvirt reads them with strtol base 0 ("0x10" hex,
 * "010" octal, "10" decimal); a tool may read them as hex. A device any reading names is refused.
 */
export function libvirtPciAddressReadings(address: XmlNode, domainName: string): string[] {
  const parts = ['@domain', '@bus', '@slot', '@function'].map((key) => address[key] ?? '0');
  if (parts.some((p) => typeof p !== 'string' || !/^(0x[0-9a-f]+|[0-9a-f]+)$/i.test(p.trim()))) {
    throw new UnsafeDomainError(`test domain ${domainName} has a PCI address with a non-numeric part (${parts.join(', ')}): refusing it, it cannot be checked`);
  }
  const strtol = (s: string): number => (/^0x/i.test(s) ? parseInt(s, 16) : /^0[0-7]+$/.test(s) ? parseInt(s, 8) : /^[0-9]+$/.test(s) ? parseInt(s, 10) : NaN);
  const hex = (s: string): number => parseInt(s.replace(/^0x/i, ''), 16);
  const format = (n: number[]): string | undefined =>
    n.some((v) => !Number.isFinite(v)) ? undefined : `${hex4(n[0])}:${hex2(n[1])}:${hex2(n[2])}.${n[3].toString(16)}`;
  const trimmed = (parts as string[]).map((p) => p.trim());
  const readings = [format(trimmed.map(strtol)), format(trimmed.map(hex))].filter((a): a is string => a !== undefined);
  return [...new Set(readings)];
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function existingPciAddresses(dir: string): Set<string> {
  try {
    return new Set(fs.readdirSync(dir).map((entry) => entry.toLowerCase()));
  } catch (e) {
    throw new UnsafeDomainError(`cannot list ${dir} (${(e as NodeJS.ErrnoException).code}): refusing every test domain, the safety check cannot run`);
  }
}

function isNode(v: unknown): v is XmlNode {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Every element below `node` as [tag, element], depth first. */
function* descendants(node: XmlNode): Generator<[string, XmlNode]> {
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('@') || key === '#text') continue;
    for (const child of Array.isArray(value) ? value : [value]) {
      // An element without attributes or children (<hostdev/>) parses to a string: still an element.
      const element = isNode(child) ? child : {};
      yield [key, element];
      yield* descendants(element);
    }
  }
}
