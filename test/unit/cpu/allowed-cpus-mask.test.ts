import assert from 'node:assert/strict';
import { allowedCpusMask, cpusOfMask } from '../../../src/cpu/allowed-cpus-mask';

describe('AllowedCPUs masks (systemd\'s ay)', () => {
  it('puts CPU n in bit n%8 of byte n/8', () => {
    assert.deepEqual(allowedCpusMask([0, 8]), [0x01, 0x01]);
    assert.deepEqual(allowedCpusMask([1, 9, 15]), [0x02, 0x82]);
    assert.deepEqual(allowedCpusMask([0, 1, 2, 3, 4, 5, 6, 7]), [0xff]);
    assert.deepEqual(allowedCpusMask([64]), [0, 0, 0, 0, 0, 0, 0, 0, 0x01]);
  });

  it('writes the empty set as no bytes at all, which systemd reads as every CPU', () => {
    assert.deepEqual(allowedCpusMask([]), []);
    assert.deepEqual(cpusOfMask([]), []);
  });

  it('reads back what it wrote', () => {
    for (const cpus of [[0], [0, 8], [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15], [7, 31, 127]]) {
      assert.deepEqual(cpusOfMask(allowedCpusMask(cpus)), cpus);
    }
    assert.deepEqual(cpusOfMask(Buffer.from([0x81, 0x00, 0x01])), [0, 7, 16]);
  });

  it('refuses a CPU number no mask can hold', () => {
    assert.throws(() => allowedCpusMask([-1]), /CPU -1 cannot be put in a CPU mask/);
    assert.throws(() => allowedCpusMask([1.5]), RangeError);
  });
});
