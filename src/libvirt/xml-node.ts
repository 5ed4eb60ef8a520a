// libvirt's XML as the project reads it with fast-xml-parser: attributes under "@name", text under
// "#text", no value turned into a number, text trimmed. Each reader adds what it needs on top
// (entities, which tags are always lists).

import { XMLParser, type X2jOptions } from 'fast-xml-parser';

export type XmlNode = Record<string, unknown>;

export function libvirtXmlParser(options: X2jOptions = {}): XMLParser {
  return new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    processEntities: false,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    ...options,
  });
}

/** An attribute's value, "" when absent. */
export function attr(node: XmlNode, name: string): string {
  const v = node[`@${name}`];
  return v === undefined ? '' : String(v);
}
