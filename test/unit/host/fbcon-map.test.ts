// fbcon's console map as the addon reports it (FBIOGET_CON2FBMAP per console), turned into the
// framebuffers fbcon draws on; every errno without a kernel.

import assert from 'node:assert/strict';
import * as os from 'node:os';
import { interpretConsoleMap } from '../../../src/host/fbcon-map';

const errno = (name: string): number => (os.constants.errno as Record<string, number>)[name];

describe('fbcon console map', () => {
  it('lists each framebuffer a console is mapped to once, ascending; -1 (no framebuffer) is left out', () => {
    assert.deepEqual(interpretConsoleMap(0, [1, 1, 1, 0, -1]), { answer: 'map', framebuffers: [0, 1] });
    assert.deepEqual(interpretConsoleMap(0, Array(63).fill(-1)), { answer: 'map', framebuffers: [] });
  });

  it('says why it could not ask, naming root for a permission error', () => {
    assert.deepEqual(interpretConsoleMap(errno('EACCES'), []), { answer: 'unavailable', why: 'not allowed to open the framebuffer device (EACCES: gpu-hookd must run as root)' });
    assert.deepEqual(interpretConsoleMap(errno('ENOTTY'), []), { answer: 'unavailable', why: "the framebuffer device could not be asked for fbcon's map (ENOTTY)" });
  });
});
