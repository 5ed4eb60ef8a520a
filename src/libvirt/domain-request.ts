// What a libvirt domain asks of us, read from the domain XML that libvirt hands the hook on stdin.
// The XML is untrusted input: bounded in size, no DOCTYPE (so no external entities or entity
// expansion), parsed by a real XML parser, and every PCI address validated before use.

import { XMLValidator } from 'fast-xml-parser';
import { attr, libvirtXmlParser, type XmlNode } from './xml-node';
import { pciAddressFromParts, parsePciAddress } from '../host/pci-address';
import { domainNameAdvice, domainNameProblem, showDomainName } from './domain-name';

/** Our namespace in <metadata>. */
export const METADATA_NS = 'https://gpuhookd.org/xmlns/vm/1';
/** Real domain XMLs are a few kB to tens of kB; anything near this is hostile or broken. */
export const MAX_DOMAIN_XML_BYTES = 1024 * 1024;

export interface PciHostdev {
  address: string;
  managed: boolean;
}

export interface CpuPin {
  vcpu: number;
  cpuset: string;
}

export interface DomainRequest {
  name: string;
  /** <hostdev mode='subsystem' type='pci'> devices, in document order. */
  hostdevs: PciHostdev[];
  /** GPUs declared in our metadata (<hookd:gpu address=.../>), for GPUs not given to QEMU as hostdevs. */
  metadataGpus: string[];
  /** Per-VM settings from our metadata element's attributes (validated by the config layer). */
  settings: Record<string, string>;
  vcpus: number;
  /** <vcpu cpuset='...'>, or "" */
  vcpuCpuset: string;
  cputune: { vcpupins: CpuPin[]; emulatorpin: string; iothreadpins: CpuPin[] };
  /** <cpu><topology sockets cores threads>, when given. */
  topology: { sockets: number; dies: number; cores: number; threads: number } | null;
}

export class DomainXmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DomainXmlError';
  }
}

export function validateDomainName(name: string): string {
  if (typeof name !== 'string') throw new DomainXmlError('the domain name is not a string: pass the name virsh shows');
  const problem = domainNameProblem(name);
  if (problem) throw new DomainXmlError(`the domain name ${name === '' ? '' : `${showDomainName(name)} `}${problem}: ${domainNameAdvice(name)}`);
  return name;
}

// Entities: only XML's five predefined ones are decoded (a domain named "a&b" arrives as "a&amp;b");
// declared entities cannot occur because a DOCTYPE is refused before parsing.
const parser = libvirtXmlParser({
  processEntities: true,
  htmlEntities: false,
  isArray: (tag) => ['hostdev', 'vcpupin', 'iothreadpin'].includes(tag),
});

// XML 1.0 allows no C0 control but tab, newline and carriage return (a NUL least of all).
// eslint-disable-next-line no-control-regex
const XML_FORBIDDEN_CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f]/;
const MALFORMED_ADVICE = 'fix it there, or take the XML libvirt keeps for the domain (virsh dumpxml)';

function lineAndColumn(text: string, index: number): { line: number; col: number } {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  return { line, col: index - before.lastIndexOf('\n') };
}

function place(at: { line: number; col: number }): string {
  return `line ${at.line}, column ${at.col}`;
}

export function readDomainRequest(xml: string, expectedName?: string): DomainRequest {
  if (typeof xml !== 'string' || xml.trim() === '') {
    throw new DomainXmlError('the domain XML is empty: libvirt passes it on the hook\'s stdin');
  }
  if (Buffer.byteLength(xml) > MAX_DOMAIN_XML_BYTES) {
    throw new DomainXmlError(`the domain XML is larger than ${MAX_DOMAIN_XML_BYTES / 1024} KiB: refusing it`);
  }
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
    throw new DomainXmlError('the domain XML contains a DOCTYPE or entity declaration, which libvirt never writes: refusing it');
  }
  const control = XML_FORBIDDEN_CONTROL.exec(xml);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    throw new DomainXmlError(`the domain XML holds a control character (U+${code}) at ${place(lineAndColumn(xml, control.index))}, which XML does not allow: ${MALFORMED_ADVICE}`);
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    // The validator's own words name its internals; where it stopped is what a user can act on.
    throw new DomainXmlError(`the domain XML is not well-formed at ${place(valid.err)}: ${MALFORMED_ADVICE}`);
  }
  let doc: XmlNode;
  try {
    doc = parser.parse(xml) as XmlNode;
  } catch (e) {
    // The parser's own limits (nesting depth, ...): hostile or broken input, never libvirt's.
    throw new DomainXmlError(`the domain XML could not be read (${(e as Error).message}): refusing it`);
  }
  const domain = doc.domain as XmlNode | undefined;
  if (!domain || typeof domain !== 'object') throw new DomainXmlError('the XML has no <domain> root element');

  const name = text(domain.name);
  validateDomainName(name);
  if (expectedName !== undefined && expectedName !== name) {
    throw new DomainXmlError(`the domain XML is for ${showDomainName(name)} but the call names ${showDomainName(expectedName)}`);
  }
  const devices = (domain.devices ?? {}) as XmlNode;
  const meta = readMetadata(domain.metadata);
  return {
    name,
    hostdevs: readHostdevs(devices.hostdev),
    metadataGpus: meta.gpus,
    settings: meta.settings,
    ...readCpus(domain),
  };
}

function readHostdevs(value: unknown): PciHostdev[] {
  const out: PciHostdev[] = [];
  for (const hd of asArray(value)) {
    if (attr(hd, 'type') !== 'pci') continue;
    const source = hd.source;
    const address = (source && typeof source === 'object' ? (source as XmlNode).address : undefined) as XmlNode | undefined;
    if (!address || typeof address !== 'object') {
      throw new DomainXmlError('a <hostdev type="pci"> of the domain has no <source><address .../></source>: give it the PCI address of the host device (virsh edit)');
    }
    const parts = [attr(address, 'domain') || '0', attr(address, 'bus'), attr(address, 'slot'), attr(address, 'function')];
    let pci: string;
    try {
      pci = pciAddressFromParts(parts[0], parts[1], parts[2], parts[3]);
    } catch {
      const shown = JSON.stringify(`${parts[0]}:${parts[1]}:${parts[2]}.${parts[3]}`.slice(0, 60));
      throw new DomainXmlError(`a <hostdev type="pci"> of the domain names ${shown}, which is not a PCI address: write domain, bus, slot and function as numbers, e.g. domain='0x0000' bus='0x01' slot='0x00' function='0x0' (virsh edit)`);
    }
    // As libvirt reads it: only managed='yes' is managed (libvirt itself always writes the attribute).
    out.push({ address: pci, managed: attr(hd, 'managed') === 'yes' });
  }
  return out;
}

function readMetadata(value: unknown): { gpus: string[]; settings: Record<string, string> } {
  const gpus: string[] = [];
  const settings: Record<string, string> = {};
  if (!value || typeof value !== 'object') return { gpus, settings };
  for (const [tag, node] of Object.entries(value as XmlNode)) {
    for (const el of asArray(node)) {
      const prefix = tag.includes(':') ? tag.slice(0, tag.indexOf(':')) : '';
      const ns = attr(el, prefix ? `xmlns:${prefix}` : 'xmlns');
      if (ns !== METADATA_NS) continue;
      for (const [key, v] of Object.entries(el)) {
        if (key.startsWith('@') && !key.startsWith('@xmlns')) settings[key.slice(1)] = String(v);
      }
      const gpuTag = prefix ? `${prefix}:gpu` : 'gpu';
      for (const g of asArray(el[gpuTag])) {
        try {
          gpus.push(parsePciAddress(attr(g, 'address')));
        } catch (e) {
          throw new DomainXmlError(`our <metadata> names an invalid GPU: ${(e as Error).message}`);
        }
      }
    }
  }
  return { gpus, settings };
}

function readCpus(domain: XmlNode): Pick<DomainRequest, 'vcpus' | 'vcpuCpuset' | 'cputune' | 'topology'> {
  const vcpu = domain.vcpu;
  const vcpus = parseInt(text(vcpu) || '1', 10);
  const cputune = (domain.cputune ?? {}) as XmlNode;
  const pins = (v: unknown, idAttr: string): CpuPin[] =>
    asArray(v).map((p) => ({ vcpu: parseInt(attr(p, idAttr), 10), cpuset: attr(p, 'cpuset') }));
  const topo = ((domain.cpu as XmlNode | undefined)?.topology ?? undefined) as XmlNode | undefined;
  const num = (n: XmlNode, k: string, d: number): number => (attr(n, k) ? parseInt(attr(n, k), 10) : d);
  return {
    vcpus: Number.isFinite(vcpus) && vcpus > 0 ? vcpus : 1,
    vcpuCpuset: vcpu && typeof vcpu === 'object' ? attr(vcpu as XmlNode, 'cpuset') : '',
    cputune: {
      vcpupins: pins(cputune.vcpupin, 'vcpu'),
      emulatorpin: cputune.emulatorpin ? attr(cputune.emulatorpin as XmlNode, 'cpuset') : '',
      iothreadpins: pins(cputune.iothreadpin, 'iothread'),
    },
    topology: topo
      ? { sockets: num(topo, 'sockets', 1), dies: num(topo, 'dies', 1), cores: num(topo, 'cores', 1), threads: num(topo, 'threads', 1) }
      : null,
  };
}

function asArray(v: unknown): XmlNode[] {
  if (v === undefined || v === null || v === '') return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is XmlNode => typeof x === 'object' && x !== null);
}

function text(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v).trim();
  if (v && typeof v === 'object' && '#text' in v) return String((v as XmlNode)['#text']).trim();
  return '';
}
