import assert from 'node:assert/strict';
import { KeyedMutex } from '../../../src/engine/keyed-mutex';

/** A promise the test resolves by hand, to hold work open at a known point. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('KeyedMutex', () => {
  it('runs work of one key one after another, in arrival order', async () => {
    const mutex = new KeyedMutex();
    const order: string[] = [];
    const first = gate();
    const a = mutex.run('g', async () => {
      order.push('a start');
      await first.opened;
      order.push('a end');
    });
    const b = mutex.run('g', async () => {
      order.push('b');
    });
    await Promise.resolve();
    await Promise.resolve();
    assert.deepEqual(order, ['a start']);
    first.open();
    await Promise.all([a, b]);
    assert.deepEqual(order, ['a start', 'a end', 'b']);
  });

  it('runs work of different keys side by side', async () => {
    const mutex = new KeyedMutex();
    const held = gate();
    const slow = mutex.run('one', () => held.opened);
    let otherRan = false;
    await mutex.run('two', async () => {
      otherRan = true;
    });
    assert.equal(otherRan, true);
    assert.equal(mutex.isLocked('one'), true);
    held.open();
    await slow;
    assert.equal(mutex.isLocked('one'), false);
  });

  it('releases the key when the work throws', async () => {
    const mutex = new KeyedMutex();
    await assert.rejects(mutex.run('g', () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await mutex.run('g', async () => 'next'), 'next');
    assert.equal(mutex.isLocked('g'), false);
  });
});
