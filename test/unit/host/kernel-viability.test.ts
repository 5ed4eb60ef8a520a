import assert from 'node:assert/strict';
import * as os from 'node:os';
import { readinessFrom } from '../../../src/host/kernel-viability';
import type { IommuGroup, PciDevice } from '../../../src/host/pci-device';
import { interpretGroupStatus } from '../../../src/host/vfio-group-status';
import { fn } from '../engine/gpu-fixture';

function device(address: string, driver: string | null, classCode = '030000'): PciDevice {
  return fn(address, driver, { classCode, iommuGroup: '4', name: `device ${address}` });
}

const { EBUSY, ENOENT, EACCES, ENOTTY } = os.constants.errno;

describe('viability from the kernel (VFIO_GROUP_GET_STATUS) and its sysfs fallback', () => {
  const vfio = device('0000:01:00.0', 'vfio-pci');
  const audioOnHost = device('0000:01:00.1', 'snd_hda_intel', '040300');
  const audioUnbound = device('0000:01:00.1', null, '040300');
  const viableGroup: IommuGroup = { id: '4', members: [vfio, audioUnbound] };
  const sharedGroup: IommuGroup = { id: '4', members: [vfio, audioOnHost] };

  it('reads the ioctl flags: bit 0 viable, bit 1 container set', () => {
    assert.deepEqual(interpretGroupStatus(0, 1), { answer: 'status', viable: true, containerSet: false });
    assert.deepEqual(interpretGroupStatus(0, 3), { answer: 'status', viable: true, containerSet: true });
    assert.deepEqual(interpretGroupStatus(0, 0), { answer: 'status', viable: false, containerSet: false });
  });

  it('tells a held group (EBUSY) and a missing group file (ENOENT) from a kernel that cannot be asked', () => {
    assert.deepEqual(interpretGroupStatus(EBUSY, 0), { answer: 'busy' });
    assert.deepEqual(interpretGroupStatus(ENOENT, 0), { answer: 'absent' });
    const denied = interpretGroupStatus(EACCES, 0);
    assert.equal(denied.answer, 'unavailable');
    assert.match(denied.answer === 'unavailable' ? denied.why : '', /EACCES: gpu-hookd must run as root/);
    assert.deepEqual(interpretGroupStatus(ENOTTY, 0), { answer: 'unavailable', why: 'the group file could not be asked (ENOTTY)' });
  });

  it("takes the kernel's yes, and its no with the culprit the sysfs rule names", () => {
    assert.deepEqual(readinessFrom(viableGroup, { answer: 'status', viable: true, containerSet: false }), {
      viability: { viable: true },
      source: 'kernel',
      inUse: false,
    });
    const no = readinessFrom(sharedGroup, { answer: 'status', viable: false, containerSet: false });
    assert.equal(no.source, 'kernel');
    assert.equal(no.viability.viable, false);
    assert.equal(no.viability.viable === false && no.viability.culprit, '0000:01:00.1');
  });

  it('says plainly when the kernel refuses a group the sysfs rule would accept', () => {
    const no = readinessFrom(viableGroup, { answer: 'status', viable: false, containerSet: false });
    assert.equal(no.viability.viable, false);
    assert.match(no.viability.viable === false ? no.viability.reason : '', /not viable by the kernel \(VFIO_GROUP_GET_STATUS\) although every member reads vfio-pci or unbound/);
  });

  it('marks a group held by another process as in use, keeping the sysfs verdict', () => {
    assert.deepEqual(readinessFrom(viableGroup, { answer: 'busy' }), { viability: { viable: true }, source: 'kernel', inUse: true });
  });

  it('falls back to the sysfs rule when there is no kernel answer', () => {
    for (const status of [undefined, { answer: 'absent' } as const, { answer: 'unavailable', why: 'not root' } as const]) {
      const r = readinessFrom(sharedGroup, status);
      assert.equal(r.source, 'sysfs', JSON.stringify(status));
      assert.equal(r.viability.viable, false);
      assert.equal(r.inUse, false);
    }
  });
});
