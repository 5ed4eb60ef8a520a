// What a domain XML says about the virtual machine's platform, for the doctor: machine type,
// firmware, CPU mode and the settings older NVIDIA guest drivers look for. The XML has already
// passed readDomainRequest (size, DOCTYPE and well-formedness checks) before it gets here.

import { attr, libvirtXmlParser, type XmlNode } from '../libvirt/xml-node';

export interface DomainPlatform {
  /** <os><type machine=...>: "pc-q35-7.2", "q35", "pc-i440fx-7.2", or "" when not given. */
  machine: string;
  /** UEFI: <os firmware='efi'>, or a pflash <loader> (OVMF/edk2). */
  uefi: boolean;
  /** <cpu mode=...>: "host-passthrough", "host-model", "custom", or "" when absent. */
  cpuMode: string;
  /** <features><hyperv><vendor_id state='on' value=...>, or null. */
  hypervVendorId: string | null;
  /** <features><kvm><hidden state='on'/>. */
  kvmHidden: boolean;
  /** <features><ioapic driver=...>, or "". */
  ioapicDriver: string;
}

const parser = libvirtXmlParser();

export function readDomainPlatform(xml: string): DomainPlatform {
  const domain = child(parser.parse(xml) as XmlNode, 'domain');
  const os = child(domain, 'os');
  const type = child(os, 'type');
  const loader = child(os, 'loader');
  const features = child(domain, 'features');
  const vendorId = child(child(features, 'hyperv'), 'vendor_id');
  const hidden = child(child(features, 'kvm'), 'hidden');
  const loaderPath = text(loader);
  return {
    machine: attr(type, 'machine'),
    uefi: attr(os, 'firmware') === 'efi' || attr(loader, 'type') === 'pflash' || /ovmf|edk2|\.fd$/i.test(loaderPath),
    cpuMode: attr(child(domain, 'cpu'), 'mode'),
    hypervVendorId: attr(vendorId, 'state') === 'on' && attr(vendorId, 'value') !== '' ? attr(vendorId, 'value') : null,
    kvmHidden: attr(hidden, 'state') === 'on',
    ioapicDriver: attr(child(features, 'ioapic'), 'driver'),
  };
}

/** A child element; an empty object when absent (or when the element has only text). */
function child(node: XmlNode, tag: string): XmlNode {
  const v = node[tag];
  const first = Array.isArray(v) ? v[0] : v;
  if (first && typeof first === 'object') return first as XmlNode;
  return typeof first === 'string' ? { '#text': first } : {};
}

function text(node: XmlNode): string {
  const v = node['#text'];
  return v === undefined ? '' : String(v).trim();
}
