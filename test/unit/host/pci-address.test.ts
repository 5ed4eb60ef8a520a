import { strict as assert } from 'node:assert';
import { InvalidPciAddressError, parseCNumber, parsePciAddress, pciAddressFromParts } from '../../../src/host/pci-address';

describe('PCI addresses', () => {
  it('normalises short and upper-case forms', () => {
    assert.equal(parsePciAddress('01:00.0'), '0000:01:00.0');
    assert.equal(parsePciAddress('0000:0A:1F.7'), '0000:0a:1f.7');
  });

  for (const bad of ['', '../../x', '0000:01:00.0/../..', '0000:01:00.8', '0000:01:00', '0000:01:00.0\0', 'x'.repeat(100), '0000:01:32.0']) {
    it(`refuses ${JSON.stringify(bad.slice(0, 20))} before any path is built`, () => {
      assert.throws(() => parsePciAddress(bad), InvalidPciAddressError);
    });
  }

  it('names the bad input and the expected shape in one sentence', () => {
    assert.throws(() => parsePciAddress('../etc'), /"\.\.\/etc" is not a PCI address: write it as domain:bus:slot\.function/);
  });

  it('reads libvirt attribute numbers as strtol base 0 does (hex, octal, decimal)', () => {
    assert.equal(pciAddressFromParts('0x0000', '0x01', '0x00', '0x1'), '0000:01:00.1');
    assert.equal(pciAddressFromParts('0', '10', '010', '0'), '0000:0a:08.0');
    assert.equal(parseCNumber('0x1f'), 0x1f);
    assert.equal(parseCNumber('017'), 15);
    assert.equal(parseCNumber('08'), undefined);
  });

  it('refuses out-of-range or non-numeric libvirt address parts', () => {
    assert.throws(() => pciAddressFromParts('0', '0x100', '0', '0'), InvalidPciAddressError);
    assert.throws(() => pciAddressFromParts('0', '1', '0x20', '0'), InvalidPciAddressError);
    assert.throws(() => pciAddressFromParts('0', '1', '0', '8'), InvalidPciAddressError);
    assert.throws(() => pciAddressFromParts('0', '1;rm', '0', '0'), InvalidPciAddressError);
  });
});
