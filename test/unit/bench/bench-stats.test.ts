// The one median every benchmark prints.

import assert from 'node:assert/strict';
import { median } from '../../../bench/bench-stats';

describe('bench median', () => {
  it('is the middle value of an odd count, in any order', () => {
    assert.equal(median([30, 10, 20]), 20);
    assert.equal(median([7]), 7);
  });

  it('is the mean of the two middle values of an even count', () => {
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('leaves the measurements in the order they were taken', () => {
    const rounds = [3, 1, 2];
    median(rounds);
    assert.deepEqual(rounds, [3, 1, 2]);
  });

  it('refuses an empty series instead of printing NaN', () => {
    assert.throws(() => median([]), /median of no values: the benchmark measured nothing/);
  });
});
