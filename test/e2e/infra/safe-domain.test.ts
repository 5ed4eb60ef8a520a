// The safety check that keeps test domains away from this machine's own PCI devices, and the guards
// of the libvirt harness that need no daemon.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { checkVirshArgs, qemuConfWithRootUser } from '../../support/libvirt-harness';
import { REAL_PCI_DEVICES_DIR, UnsafeDomainError, assertDomainSafe, buildTestDomainXml, libvirtPciAddressReadings, safeDomainXml } from '../../support/safe-domain';
import { makeTempRoot } from '../../support/temp-root';

/** This machine's disk/network controller; the brief names it, and the check must find it. */
const OWN_DEVICE = '0000:00:03.0';
const ABSENT_DEVICE = '0000:0a:00.0';

function domainWith(devices: string): string {
  return `<domain type='qemu'><name>gpuhookd-safety</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>${devices}</devices></domain>`;
}

function pciHostdev(domain: string, bus: string, slot: string, fn: string): string {
  return `<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='${domain}' bus='${bus}' slot='${slot}' function='${fn}'/></source></hostdev>`;
}

describe('safe test domains', () => {
  before(() => {
    assert.ok(fs.existsSync(`${REAL_PCI_DEVICES_DIR}/${OWN_DEVICE}`), `these tests expect ${OWN_DEVICE} to exist on this machine`);
    assert.ok(!fs.existsSync(`${REAL_PCI_DEVICES_DIR}/${ABSENT_DEVICE}`), `these tests expect ${ABSENT_DEVICE} to be absent on this machine`);
  });

  it('refuses a domain naming this machine\'s 0000:00:03.0 as a hostdev, saying which device and why', () => {
    assert.throws(
      () => safeDomainXml({ name: 'gpuhookd-unsafe', hostdevs: [{ address: OWN_DEVICE }] }),
      (e: Error) => e instanceof UnsafeDomainError && e.message.includes(`names PCI device ${OWN_DEVICE} in <hostdev>, which exists on this machine`),
    );
  });

  it('refuses the same device however libvirt would read its address (decimal, octal, hex, upper case)', () => {
    const spellings: [string, string, string, string][] = [['0', '0', '3', '0'], ['0x0000', '0x00', '0x03', '0x0'], ['0', '00', '03', '0'], ['0X0000', '0X00', '0X03', '0X0']];
    for (const [domain, bus, slot, fn] of spellings) {
      assert.throws(() => assertDomainSafe(domainWith(pciHostdev(domain, bus, slot, fn))), UnsafeDomainError, `${domain},${bus},${slot},${fn}`);
    }
  });

  it('reads attributes as libvirt does (strtol base 0) and as hex, and checks both', () => {
    assert.deepEqual(libvirtPciAddressReadings({ '@domain': '0', '@bus': '10', '@slot': '010', '@function': '1' }, 't'), ['0000:0a:08.1', '0000:10:10.1']);
    assert.deepEqual(libvirtPciAddressReadings({ '@domain': '0x0000', '@bus': '0x0a', '@slot': '0x00', '@function': '0x0' }, 't'), [ABSENT_DEVICE]);
  });

  it('refuses an <interface type="hostdev"> on a device of this machine', () => {
    const iface = `<interface type='hostdev'><source><address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/></source></interface>`;
    assert.throws(() => assertDomainSafe(domainWith(iface)), /names PCI device 0000:00:03\.0 in <interface>/);
  });

  it('refuses disks, non-PCI hostdevs, capability hostdevs and hostdevs it cannot check', () => {
    const refused = [
      `<disk type='block' device='disk'><source dev='/dev/vda'/><target dev='vda'/></disk>`,
      `<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0x5678'/></source></hostdev>`,
      `<hostdev mode='capabilities' type='storage'><source><block>/dev/sda</block></source></hostdev>`,
      `<hostdev mode='subsystem' type='pci'><source/></hostdev>`,
      `<hostdev/>`,
      pciHostdev('0', 'zz', '3', '0'),
    ];
    for (const devices of refused) assert.throws(() => assertDomainSafe(domainWith(devices)), UnsafeDomainError, devices);
  });

  it('refuses malformed XML, DOCTYPEs and a domain without a name', () => {
    assert.throws(() => assertDomainSafe('<domain><name>x</name>'), /malformed/);
    assert.throws(() => assertDomainSafe('<!DOCTYPE domain [<!ENTITY a "b">]><domain><name>x</name></domain>'), /DOCTYPE/);
    assert.throws(() => assertDomainSafe('<domain type="qemu"><devices/></domain>'), /no <name>/);
  });

  it('fails closed when the PCI device listing cannot be read', () => {
    const { root, cleanup } = makeTempRoot();
    try {
      assert.throws(() => safeDomainXml({ name: 'gpuhookd-x', hostdevs: [{ address: ABSENT_DEVICE }] }, `${root}/missing`), /cannot list .* refusing every test domain/);
    } finally {
      cleanup();
    }
  });

  it('accepts a hostdev at an address this machine lacks and returns the domain name', () => {
    assert.equal(assertDomainSafe(buildTestDomainXml({ name: 'gpuhookd-ok', hostdevs: [{ address: ABSENT_DEVICE }] })), 'gpuhookd-ok');
  });

  it('returns the name as libvirt reads it, with entities and character references decoded', () => {
    const named = (written: string): string => buildTestDomainXml({ name: 'gpuhookd-x' }).replace('<name>gpuhookd-x</name>', `<name>${written}</name>`);
    assert.equal(assertDomainSafe(named('gpuhookd-a&amp;b')), 'gpuhookd-a&b');
    assert.equal(assertDomainSafe(named('gpuhookd-&lt;&#38;&#x26;&gt;')), 'gpuhookd-<&&>');
    assert.equal(assertDomainSafe(named('gpuhookd-&amp;lt;')), 'gpuhookd-&lt;', 'decoded once');
    assert.throws(() => assertDomainSafe(named('gpuhookd-&#x110000;')), /&#x110000;, which is no character/);
  });

  it('builds a small diskless TCG domain with optional metadata, hostdevs and cputune', () => {
    const xml = safeDomainXml({
      name: 'gpuhookd-built',
      vcpus: 2,
      metadata: `<hookd:vm xmlns:hookd="https://gpuhookd.org/xmlns/vm/1" pin="auto"/>`,
      hostdevs: [{ address: ABSENT_DEVICE, managed: true }],
      cputune: { vcpupins: [{ vcpu: 0, cpuset: '1' }], emulatorpin: '0' },
      topology: { sockets: 1, cores: 1, threads: 2 },
    });
    for (const part of [
      `<domain type='qemu'>`,
      `<memory unit='MiB'>64</memory>`,
      `<vcpu placement='static'>2</vcpu>`,
      `<controller type='usb' model='none'/>`,
      `<memballoon model='none'/>`,
      `pin="auto"`,
      `<hostdev mode='subsystem' type='pci' managed='yes'>`,
      `<address domain='0x0000' bus='0x0a' slot='0x00' function='0x0'/>`,
      `<vcpupin vcpu='0' cpuset='1'/>`,
      `<emulatorpin cpuset='0'/>`,
      `threads='2'`,
    ]) {
      assert.ok(xml.includes(part), `missing ${part} in\n${xml}`);
    }
    assert.doesNotMatch(xml, /<disk|<interface|<graphics/);
  });

  it('refuses builder input that would not be a plain domain (names, cpusets, addresses)', () => {
    assert.throws(() => buildTestDomainXml({ name: 'a b' }), /test domain name/);
    assert.throws(() => buildTestDomainXml({ name: 'ok', vcpuCpuset: "0'/><x" }), /not a libvirt cpuset/);
    assert.throws(() => buildTestDomainXml({ name: 'ok', hostdevs: [{ address: '00:03.0' }] }), /not a full PCI address/);
  });
});

describe('libvirt harness guards', () => {
  it('refuses virsh subcommands that would bypass the safety check', () => {
    for (const args of [['define', 'x.xml'], ['create', 'x.xml'], ['attach-device', 'd', 'x.xml'], ['nodedev-detach', 'pci_0000_00_03_0'], ['edit', 'd']]) {
      assert.throws(() => checkVirshArgs(args), /refused by the test harness/, args.join(' '));
    }
    assert.throws(() => checkVirshArgs(['list; define x.xml']), /must start with a subcommand/);
    assert.throws(() => checkVirshArgs(['-c', 'qemu:///system', 'define', 'x']), /must start with a subcommand/);
    assert.doesNotThrow(() => checkVirshArgs(['start', 'gpuhookd-ok']));
  });

  it('sets QEMU to run as root in qemu.conf, commenting out other user/group lines, and leaves a root config alone', () => {
    const patched = qemuConfWithRootUser('#user = "qemu"\nuser = "libvirt-qemu"\nsecurity_driver = "none"\n') as string;
    assert.deepEqual(patched.split('\n').filter((l) => /^\s*(user|group)\s*=/.test(l)), ['user = "root"', 'group = "root"']);
    assert.match(patched, /^# user = "libvirt-qemu"$/m);
    assert.match(patched, /^security_driver = "none"$/m);
    assert.equal(qemuConfWithRootUser(patched), undefined);
  });
});
