// Giving two GPUs back: the order that keeps each GPU's card and fb numbers, and the one sentence
// when a GPU came back under other numbers.

import assert from 'node:assert/strict';
import { inBootOrder, numberingMoved } from '../../../src/engine/display-numbering';

describe('display numbering of GPUs given back', () => {
  it('gives GPUs back lowest card number first, then lowest framebuffer, then those without recorded nodes by address', () => {
    const gpus = [
      { gpu: '0000:00:02.0', displayNodes: ['/dev/dri/card1', '/dev/dri/renderD129', '/dev/fb1'] },
      { gpu: '0000:0a:00.0' },
      { gpu: '0000:01:00.0', displayNodes: ['/dev/dri/card0', '/dev/dri/renderD128', '/dev/fb0'] },
      { gpu: '0000:03:00.0', displayNodes: ['/dev/fb2'] },
      { gpu: '0000:09:00.0', displayNodes: [] },
    ];
    assert.deepEqual(inBootOrder(gpus).map((g) => g.gpu), ['0000:01:00.0', '0000:00:02.0', '0000:03:00.0', '0000:09:00.0', '0000:0a:00.0']);
    // card10 after card9: numbers, not text.
    const many = [
      { gpu: '0000:10:00.0', displayNodes: ['/dev/dri/card10'] },
      { gpu: '0000:09:00.0', displayNodes: ['/dev/dri/card9'] },
    ];
    assert.deepEqual(inBootOrder(many).map((g) => g.gpu), ['0000:09:00.0', '0000:10:00.0']);
  });

  it('says nothing when the GPU came back as it was, or when nothing was recorded, or it has no nodes now', () => {
    const nodes = ['/dev/dri/card1', '/dev/dri/renderD129', '/dev/fb1'];
    assert.equal(numberingMoved('0000:01:00.0', nodes, [...nodes].reverse()), undefined);
    assert.equal(numberingMoved('0000:01:00.0', undefined, nodes), undefined);
    assert.equal(numberingMoved('0000:01:00.0', [], nodes), undefined);
    assert.equal(numberingMoved('0000:01:00.0', nodes, []), undefined);
  });

  it('names the new numbers, the old ones and what to do, in one sentence', () => {
    const said = numberingMoved('0000:02:00.0', ['/dev/dri/card1', '/dev/dri/renderD129', '/dev/fb1'], ['/dev/dri/card0', '/dev/dri/renderD128', '/dev/fb0']);
    assert.equal(
      said,
      '0000:02:00.0 came back as card0, renderD128, fb0 where it was card1, renderD129, fb1 before its detach (the kernel gives each GPU the lowest ' +
        'free numbers as its driver binds, and another GPU came back or stayed in between), so what is configured for card1 or renderD129 or fb1 ' +
        'now reaches another GPU or none: name GPUs by path (/dev/dri/by-path/pci-0000:02:00.0-card) or reboot to get the boot numbering back',
    );
    assert.equal(said?.split('. ').length, 1);
  });
});
