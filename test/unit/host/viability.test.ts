import assert from 'node:assert/strict';
import { gpuInGroup } from '../../../src/host/gpu-inventory';
import type { IommuGroup, PciDevice } from '../../../src/host/pci-device';
import { fn } from '../engine/gpu-fixture';
import { currentViability, describeViability, gpuCardAddresses, gpuViability, groupViability } from '../../../src/host/viability';

function device(address: string, classCode: string, driver: string | null, isBridge = false): PciDevice {
  return fn(address, driver, { classCode, isBridge, headerType: isBridge ? 1 : 0, iommuGroup: '14', name: `device ${address}` });
}

function group(...members: PciDevice[]): IommuGroup {
  return { id: '14', members };
}

describe('group viability', () => {
  const vga = device('0000:01:00.0', '030000', 'nouveau');
  const audio = device('0000:01:00.1', '040300', 'snd_hda_intel');
  const bridge = device('0000:00:01.0', '060400', 'pcieport', true);
  const nic = device('0000:02:00.0', '020000', 'igb');

  it('is viable when every non-bridge member moves, whatever their drivers now', () => {
    assert.deepEqual(groupViability(group(bridge, vga, audio), ['0000:01:00.0', '0000:01:00.1']), { viable: true });
  });

  it('names the member that stays on a host driver, with its driver and the group', () => {
    const v = groupViability(group(vga, audio, nic), ['0000:01:00.0', '0000:01:00.1']);
    assert.equal(v.viable, false);
    assert.ok(!v.viable);
    assert.equal(v.culprit, '0000:02:00.0');
    assert.equal(
      describeViability(v),
      '0000:02:00.0 (device 0000:02:00.0 on igb) shares IOMMU group 14 with 0000:01:00.0 and would be taken from igb',
    );
  });

  it('accepts members outside the move that are unbound or already on vfio-pci', () => {
    const unbound = device('0000:02:00.0', '020000', null);
    const onVfio = device('0000:03:00.0', '020000', 'vfio-pci');
    assert.deepEqual(groupViability(group(vga, unbound, onVfio), ['0000:01:00.0']), { viable: true });
  });

  it('ignores bridges even when they stay on pcieport', () => {
    assert.deepEqual(groupViability(group(bridge, vga), ['0000:01:00.0']), { viable: true });
  });

  it("for a GPU moves the card's functions (its slot) and nothing else", () => {
    const gpu = gpuInGroup('0000:01:00.0', group(bridge, vga, audio, nic))!;
    assert.deepEqual(gpuCardAddresses(gpu), ['0000:01:00.0', '0000:01:00.1']);
    assert.deepEqual(gpu.functions.map((f) => f.address), ['0000:01:00.0', '0000:01:00.1', '0000:02:00.0']);
    assert.equal(gpuViability(gpu).viable, false);
  });

  it('now: viable only when every non-bridge member is on vfio-pci or unbound', () => {
    const v = currentViability(group(bridge, device('0000:01:00.0', '030000', 'vfio-pci'), audio));
    assert.ok(!v.viable);
    assert.equal(v.culprit, '0000:01:00.1');
    assert.match(v.reason, /is on snd_hda_intel, not vfio-pci/);
    assert.deepEqual(
      currentViability(group(bridge, device('0000:01:00.0', '030000', 'vfio-pci'), device('0000:01:00.1', '040300', null))),
      { viable: true },
    );
  });
});
