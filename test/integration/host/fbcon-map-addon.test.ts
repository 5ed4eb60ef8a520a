// The fbcon console map addon (native/fbcon-map) on files of a temporary root: it is built and
// loads, a file that is no framebuffer cannot answer the ioctl, and HostIO never asks it below a
// root other than "/" (the ioctl would reach this machine's kernel).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { askKernelConsoleMap } from '../../../src/host/fbcon-map';
import { SysfsHostIO } from '../../../src/host/host-io';
import { makeTempRoot } from '../../support/temp-root';

describe('the fbcon console map addon (native/fbcon-map), on files of a temporary root', () => {
  const temp = makeTempRoot('gpu-hookd-fbcon-map-');
  after(() => temp.cleanup());

  it('is built and loads: a missing device cannot be opened, a plain file cannot answer the ioctl', () => {
    assert.deepEqual(askKernelConsoleMap(path.join(temp.root, 'dev/fb0')), { answer: 'unavailable', why: "the framebuffer device could not be asked for fbcon's map (ENOENT)" });
    const plain = path.join(temp.root, 'not-a-framebuffer');
    fs.writeFileSync(plain, '');
    assert.deepEqual(askKernelConsoleMap(plain), { answer: 'unavailable', why: "the framebuffer device could not be asked for fbcon's map (ENOTTY)" });
  });

  it('is never asked below a root other than "/"', () => {
    fs.mkdirSync(path.join(temp.root, 'sys/class/graphics/fb0'), { recursive: true });
    const map = new SysfsHostIO(temp.root).consoleMap();
    assert.equal(map.answer, 'unavailable');
    assert.match(map.answer === 'unavailable' ? map.why : '', /the host root is .*, not the running kernel's/);
  });
});
