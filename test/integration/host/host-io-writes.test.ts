// SysfsHostIO's writes on a plain directory standing in for sysfs: in the thread pool and bounded,
// or in place for writes the kernel finishes at once; both open write-only and never create.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HostWriteError, SysfsHostIO } from '../../../src/host/host-io';
import { makeTempRoot } from '../../support/temp-root';

describe('SysfsHostIO writes', () => {
  let root: { root: string; cleanup: () => void };
  let io: SysfsHostIO;
  const attr = 'sys/bus/pci/devices/0000:01:00.0/driver_override';

  beforeEach(() => {
    root = makeTempRoot('gpu-hookd-hostio-');
    io = new SysfsHostIO(root.root);
    fs.mkdirSync(path.dirname(path.join(root.root, attr)), { recursive: true });
    fs.writeFileSync(path.join(root.root, attr), '');
  });
  afterEach(() => root.cleanup());

  for (const inPlace of [false, true]) {
    const how = inPlace ? 'in place' : 'in the thread pool';
    it(`writes ${how}, and refuses a missing attribute with ENOENT without creating it`, async () => {
      await io.write(attr, 'vfio-pci', { inPlace });
      assert.equal(fs.readFileSync(path.join(root.root, attr), 'utf8'), 'vfio-pci');
      const missing = 'sys/bus/pci/devices/0000:01:00.0/nothing';
      await assert.rejects(io.write(missing, 'x', { inPlace }), (e: unknown) => e instanceof HostWriteError && e.code === 'ENOENT');
      assert.equal(fs.existsSync(path.join(root.root, missing)), false);
    });
  }

  it('in place, the write is done when the call returns, before any await', () => {
    void io.write(attr, 'vfio-pci', { inPlace: true });
    assert.equal(fs.readFileSync(path.join(root.root, attr), 'utf8'), 'vfio-pci');
  });
});
