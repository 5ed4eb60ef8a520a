// What a domain asks for, read from the XML libvirt really hands the hook, and hostile XML refused
// with one sentence each.

import assert from 'node:assert/strict';
import { DomainXmlError, MAX_DOMAIN_XML_BYTES, readDomainRequest, validateDomainName } from '../../../src/libvirt/domain-request';
import { PREPARE_FULL, PREPARE_MANAGED_NO, RELEASE_MANAGED_YES, STARTED_METADATA_GPU } from './libvirt-xml';

function domainXml(name: string, devices: string, extra = ''): string {
  return `<domain type='qemu'>\n  <name>${name}</name>\n${extra}  <devices>\n${devices}\n  </devices>\n</domain>\n`;
}

function refusal(xml: string, name = 'vm'): string {
  try {
    readDomainRequest(xml, name);
  } catch (e) {
    assert.ok(e instanceof DomainXmlError, `expected a DomainXmlError, got ${String(e)}`);
    assert.doesNotMatch(e.message, /\n|\s at /, 'one line, no stack');
    return e.message;
  }
  assert.fail('the XML was accepted');
}

describe('readDomainRequest on libvirt XML', () => {
  it("reads managed='no' hostdevs by their host <source> address, not the guest-side address", () => {
    const request = readDomainRequest(PREPARE_MANAGED_NO, 'exp-no');
    assert.equal(request.name, 'exp-no');
    assert.deepEqual(request.hostdevs, [
      { address: '0000:01:00.0', managed: false },
      { address: '0000:01:00.1', managed: false },
    ]);
    assert.deepEqual(request.metadataGpus, []);
    assert.deepEqual(request.settings, {});
  });

  it("reads a managed='yes' hostdev in the release XML (aliases added by libvirt)", () => {
    const request = readDomainRequest(RELEASE_MANAGED_YES, 'exp-yes');
    assert.deepEqual(request.hostdevs, [{ address: '0000:01:00.0', managed: true }]);
  });

  it('reads our metadata (settings and GPUs), ignores other namespaces, and reads cputune and topology', () => {
    const request = readDomainRequest(PREPARE_FULL, 'shape-full');
    assert.deepEqual(request.hostdevs, [
      { address: '0000:0a:00.0', managed: true },
      { address: '0000:0a:00.1', managed: false },
    ]);
    assert.deepEqual(request.metadataGpus, ['0000:0a:00.0', '0000:0b:00.0']);
    assert.deepEqual(request.settings, { pin: 'auto', isolateCpus: 'true' });
    assert.equal(request.vcpus, 2);
    assert.equal(request.vcpuCpuset, '0-1');
    assert.deepEqual(request.cputune, {
      vcpupins: [
        { vcpu: 0, cpuset: '1' },
        { vcpu: 1, cpuset: '0' },
      ],
      emulatorpin: '0',
      iothreadpins: [],
    });
    assert.deepEqual(request.topology, { sockets: 1, dies: 1, cores: 1, threads: 2 });
  });

  it('reads a GPU declared only in metadata from a running domain', () => {
    const request = readDomainRequest(STARTED_METADATA_GPU, 'exp-meta');
    assert.deepEqual(request.hostdevs, []);
    assert.deepEqual(request.metadataGpus, ['0000:01:00.0']);
    assert.deepEqual(request.settings, { pin: 'auto' });
    assert.equal(request.topology, null);
  });

  it('reads metadata in our namespace as the default namespace too', () => {
    const xml = domainXml('vm', '', `  <metadata>\n    <vm xmlns="https://gpuhookd.org/xmlns/vm/1" holders="terminate"><gpu address="01:00.0"/></vm>\n  </metadata>\n`);
    const request = readDomainRequest(xml, 'vm');
    assert.deepEqual(request.metadataGpus, ['0000:01:00.0']);
    assert.deepEqual(request.settings, { holders: 'terminate' });
  });

  it('asks for nothing when the domain has no PCI hostdev and no metadata of ours', () => {
    const xml = domainXml('plain', `    <hostdev mode='subsystem' type='usb' managed='yes'><source><vendor id='0x1234'/><product id='0x5678'/></source></hostdev>`);
    const request = readDomainRequest(xml, 'plain');
    assert.deepEqual(request.hostdevs, []);
    assert.deepEqual(request.metadataGpus, []);
  });

  it("takes a hostdev without managed as unmanaged, as libvirt does", () => {
    const xml = domainXml('vm', `    <hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>`);
    assert.deepEqual(readDomainRequest(xml, 'vm').hostdevs, [{ address: '0000:01:00.0', managed: false }]);
  });

  it('reads address numbers as libvirt does (strtol base 0: bus=10 is bus 0x0a)', () => {
    const xml = domainXml('vm', `    <hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0' bus='10' slot='0x1f' function='7'/></source></hostdev>`);
    assert.deepEqual(readDomainRequest(xml, 'vm').hostdevs, [{ address: '0000:0a:1f.7', managed: false }]);
  });

  it('decodes the predefined entities of a domain name (libvirt writes a&b as a&amp;b)', () => {
    assert.equal(readDomainRequest(domainXml('a&amp;b', ''), 'a&b').name, 'a&b');
  });

  it('refuses XML of another domain than the call names', () => {
    assert.match(refusal(PREPARE_MANAGED_NO, 'win10'), /is for "exp-no" but the call names "win10"/);
  });
});

describe('readDomainRequest on hostile XML', () => {
  it('refuses empty input', () => {
    assert.match(refusal('  \n'), /the domain XML is empty/);
  });

  it('refuses XML larger than the bound before parsing it', () => {
    const huge = domainXml('vm', `<!-- ${'x'.repeat(MAX_DOMAIN_XML_BYTES)} -->`);
    assert.match(refusal(huge), /larger than 1024 KiB: refusing it/);
  });

  it('refuses an entity bomb (a DOCTYPE with entity declarations)', () => {
    const bomb =
      '<?xml version="1.0"?>\n<!DOCTYPE domain [\n <!ENTITY a "aaaaaaaaaa">\n <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n' +
      ' <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">\n]>\n<domain><name>&c;</name></domain>';
    assert.match(refusal(bomb), /contains a DOCTYPE or entity declaration, which libvirt never writes/);
  });

  it('refuses an external entity', () => {
    const xxe = '<!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/shadow">]><domain><name>&x;</name></domain>';
    assert.match(refusal(xxe), /DOCTYPE or entity declaration/);
  });

  it('refuses malformed XML naming the line and column, not the parser\'s words', () => {
    const advice = 'fix it there, or take the XML libvirt keeps for the domain (virsh dumpxml)';
    assert.equal(refusal("<domain type='qemu'>\n  <name>vm</name>\n  <devices>\n</domain>\n"), `the domain XML is not well-formed at line 4, column 1: ${advice}`);
    assert.equal(refusal("<domain type='qemu'>\n  <name a=b>vm</name>\n</domain>"), `the domain XML is not well-formed at line 2, column 9: ${advice}`);
    assert.equal(refusal("<domain>\n<name>vm</name>\n  <devices><hostdev type='pci'></devices>\n</domain>"), `the domain XML is not well-formed at line 3, column 32: ${advice}`);
  });

  it('refuses a control character that XML does not allow (NUL among them), naming where it is', () => {
    const advice = 'fix it there, or take the XML libvirt keeps for the domain (virsh dumpxml)';
    assert.equal(refusal(domainXml('v\u0000m', '')), `the domain XML holds a control character (U+0000) at line 2, column 10, which XML does not allow: ${advice}`);
    assert.equal(refusal(domainXml('vm', '  <!-- \u001b[2J -->')), `the domain XML holds a control character (U+001B) at line 4, column 8, which XML does not allow: ${advice}`);
    // Tab, newline and carriage return are XML's own whitespace.
    assert.equal(readDomainRequest(domainXml('vm', '\t<!-- \r -->'), 'vm').name, 'vm');
  });

  it('refuses nesting deeper than the parser allows with a sentence, not a parser exception', () => {
    const deep = `<domain><name>vm</name>${'<a>'.repeat(100_000)}${'</a>'.repeat(100_000)}</domain>`;
    assert.match(refusal(deep), /^the domain XML could not be read \(.+\): refusing it$/);
  });

  it('refuses a document without a <domain> root', () => {
    assert.match(refusal('<network><name>vm</name></network>'), /no <domain> root element/);
  });

  for (const [what, address] of [
    ['letters', "domain='0x0000' bus='zz' slot='0x00' function='0x0'"],
    ['a slot above 0x1f', "domain='0x0000' bus='0x01' slot='0x20' function='0x0'"],
    ['a function above 7', "domain='0x0000' bus='0x01' slot='0x00' function='0x8'"],
    ['a path in the bus', "domain='0x0000' bus='../../..' slot='0x00' function='0x0'"],
    ['a missing bus', "domain='0x0000' slot='0x00' function='0x0'"],
    ['a negative number', "domain='0x0000' bus='-1' slot='0x00' function='0x0'"],
  ]) {
    it(`refuses a hostdev address with ${what}, naming it`, () => {
      const xml = domainXml('vm', `    <hostdev mode='subsystem' type='pci' managed='no'><source><address ${address}/></source></hostdev>`);
      assert.match(refusal(xml), /^a <hostdev type="pci"> of the domain names ".*", which is not a PCI address: write domain, bus, slot and function as numbers/);
    });
  }

  it('refuses a PCI hostdev without a source address', () => {
    const xml = domainXml('vm', `    <hostdev mode='subsystem' type='pci' managed='no'><source/></hostdev>`);
    assert.match(refusal(xml), /has no <source><address \.\.\.\/><\/source>/);
  });

  it('refuses a metadata GPU that is not a PCI address', () => {
    const xml = domainXml('vm', '', `  <metadata><h:vm xmlns:h="https://gpuhookd.org/xmlns/vm/1"><h:gpu address="/sys/../../dev/sda"/></h:vm></metadata>\n`);
    assert.match(refusal(xml), /our <metadata> names an invalid GPU: ".*" is not a PCI address/);
  });

  it('refuses a domain name that libvirt would never pass', () => {
    assert.equal(refusal(domainXml('a/b', ''), 'a/b'), 'the domain name "a/b" holds a "/", which libvirt does not allow: pass the name virsh shows');
  });

  it('refuses a domain name with a control character, shown escaped, whether the call or the XML holds it', () => {
    for (const [name, shown, code] of [['win\t10', '"win\\t10"', '0009'], ['win\n10', '"win\\n10"', '000A'], ['a\u0001', '"a\\u0001"', '0001'], ['del\u007f', '"del\\u007f"', '007F']]) {
      const sentence = `the domain name ${shown} holds a control character (U+${code}), which gpu-hookd does not accept: rename the domain to a name without it (virsh domrename)`;
      assert.throws(() => validateDomainName(name), (e: unknown) => e instanceof DomainXmlError && e.message === sentence);
    }
    assert.equal(refusal(domainXml('win\t10', ''), 'win\t10'), 'the domain name "win\\t10" holds a control character (U+0009), which gpu-hookd does not accept: rename the domain to a name without it (virsh domrename)');
    assert.equal(refusal(domainXml('win&#9;10', ''), 'win\t10'), 'the domain XML is for "win&#9;10" but the call names "win\\t10"');
  });
});
