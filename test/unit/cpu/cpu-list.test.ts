import assert from 'node:assert/strict';
import { CpuListError, commonCpus, formatCpuList, MAX_CPU, parseCpuList, sameCpus, withoutCpus } from '../../../src/cpu/cpu-list';

describe('CPU lists', () => {
  it('reads the kernel\'s lists: ranges, single CPUs, spaces, the empty list', () => {
    assert.deepEqual(parseCpuList('0-3,8-11'), [0, 1, 2, 3, 8, 9, 10, 11]);
    assert.deepEqual(parseCpuList(' 5, 1-2 ,1 '), [1, 2, 5]);
    assert.deepEqual(parseCpuList(''), []);
    assert.deepEqual(parseCpuList('7\n'), [7]);
  });

  it('reads libvirt cpusets with ^ exclusions only when asked to', () => {
    assert.deepEqual(parseCpuList('0-7,^3,^5-6', { exclusions: true }), [0, 1, 2, 4, 7]);
    assert.throws(() => parseCpuList('0-7,^3'), /"\^" exclusions are only for libvirt cpusets/);
  });

  it('refuses what is not a list, with the text and the reason in one sentence', () => {
    assert.throws(() => parseCpuList('3-1'), (e: unknown) => e instanceof CpuListError && /"3-1" is not a CPU list such as "0-3,8-11" \(the range "3-1" runs backwards\)/.test(e.message));
    assert.throws(() => parseCpuList('a,1'), /"a" is neither a CPU number nor a range N-M/);
    assert.throws(() => parseCpuList('0,,1'), /"" is neither/);
    assert.throws(() => parseCpuList(`0-${MAX_CPU + 1}`), /above the kernel's limit/);
    assert.throws(() => parseCpuList('0-999999999'), /above the kernel's limit/);
  });

  it('writes the kernel\'s form: ascending, consecutive CPUs as ranges', () => {
    assert.equal(formatCpuList([11, 8, 0, 1, 2, 3, 9, 10, 3]), '0-3,8-11');
    assert.equal(formatCpuList([0, 8]), '0,8');
    assert.equal(formatCpuList([]), '');
    for (const text of ['1-7,9-15', '0', '2,4,6-7']) assert.equal(formatCpuList(parseCpuList(text)), text);
  });

  it('compares and combines CPU sets whatever their order', () => {
    assert.equal(sameCpus([1, 0], [0, 1, 1]), true);
    assert.equal(sameCpus([], [0]), false);
    assert.deepEqual(withoutCpus([0, 1, 2, 3], [1, 3, 9]), [0, 2]);
    assert.deepEqual(commonCpus([3, 2, 1], [1, 3, 9]), [1, 3]);
  });
});
