import assert from 'node:assert/strict';
import { formatPciName, PciIdsDatabase, pciNamer, type PciIds } from '../../../src/host/pci-ids';

const PCI_IDS = [
  '10b5  PLX Technology, Inc.',
  '\t1f08  not the NVIDIA device',
  '#',
  '# Syntax:',
  '# vendor  vendor_name',
  '10de  NVIDIA Corporation',
  '# a comment inside the vendor block',
  '\t10f9  TU106 High Definition Audio Controller',
  '\t1f08  TU106 [GeForce RTX 2060 Rev. A]',
  '\t\t1043 86d2  ROG Strix RTX 2060',
  '',
  '\t1f82  TU117 [GeForce GTX 1650]',
  '\t\t1043 86d3  belongs to 1f82 only',
  '1af4  Red Hat, Inc.',
  '\t1043  Virtio network device',
  '1b36  Red Hat, Inc.',
  '\t10f9  a device of another vendor with the same id',
  '1d17  Zhaoxin',
  '\t1f0b  Caf\u00e9 controller',
  '',
  'C 03  Display controller',
  '\t00  VGA compatible controller',
  '',
].join('\n');

function ids(vendorId: string, deviceId: string, sub?: string): PciIds {
  const [subsystemVendorId, subsystemDeviceId] = sub ? sub.split(':') : [null, null];
  return { vendorId, deviceId, subsystemVendorId, subsystemDeviceId };
}

describe('pci.ids names', () => {
  const db = PciIdsDatabase.fromText(PCI_IDS);

  it('finds vendor and device, skipping comments inside the vendor block', () => {
    assert.deepEqual(db.lookup(ids('10de', '1f08')), { vendor: 'NVIDIA Corporation', device: 'TU106 [GeForce RTX 2060 Rev. A]' });
    assert.deepEqual(db.lookup(ids('10de', '10f9')).device, 'TU106 High Definition Audio Controller');
  });

  it('finds the vendor on the first line of the file', () => {
    assert.deepEqual(db.lookup(ids('10b5', '1f08')), { vendor: 'PLX Technology, Inc.', device: 'not the NVIDIA device' });
  });

  it('finds a subsystem only under its own device, past blank lines', () => {
    assert.equal(db.lookup(ids('10de', '1f08', '1043:86d2')).subsystem, 'ROG Strix RTX 2060');
    assert.equal(db.lookup(ids('10de', '1f08', '1043:86d3')).subsystem, undefined);
    assert.equal(db.lookup(ids('10de', '1f82', '1043:86d3')).subsystem, 'belongs to 1f82 only');
  });

  it('never takes a device from the next vendor', () => {
    assert.deepEqual(db.lookup(ids('1af4', '10f9')), { vendor: 'Red Hat, Inc.' });
    assert.equal(db.lookup(ids('1b36', '10f9')).device, 'a device of another vendor with the same id');
  });

  it('does not mistake a device line with the vendor id for a vendor', () => {
    assert.deepEqual(db.lookup(ids('1043', '86d2')), {});
  });

  it('decodes UTF-8 names and accepts upper-case ids', () => {
    assert.equal(db.lookup(ids('1D17', '1F0B')).device, 'Caf\u00e9 controller');
  });

  it('formats "vendor device (subsystem)" and falls back to the ids', () => {
    const rtx = ids('10de', '1f08', '1043:86d2');
    assert.equal(formatPciName(rtx, db.lookup(rtx)), 'NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A] (ROG Strix RTX 2060)');
    assert.equal(formatPciName(ids('10de', 'abcd'), db.lookup(ids('10de', 'abcd'))), 'NVIDIA Corporation device abcd');
    assert.equal(formatPciName(ids('1234', '1111'), db.lookup(ids('1234', '1111'))), '1234:1111');
  });

  it('names by ids alone when no pci.ids file exists', () => {
    const namer = pciNamer(['/nonexistent/gpu-hookd-test/pci.ids']);
    assert.equal(namer.name(ids('10de', '1f08')), '10de:1f08');
  });
});
