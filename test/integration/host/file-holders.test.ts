import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeHolders, processesHolding, vfioGroupHolders } from '../../../src/host/file-holders';
import { SysfsHostIO } from '../../../src/host/host-io';
import { askKernelGroupStatus } from '../../../src/host/vfio-group-status';
import { makeTempRoot } from '../../support/temp-root';

/** proc/<pid>/comm and proc/<pid>/fd/<n> links, as the kernel shows them (targets are host paths). */
function addProcess(root: string, pid: number, comm: string | undefined, fds: Record<string, string>): void {
  const dir = path.join(root, 'proc', String(pid));
  fs.mkdirSync(path.join(dir, 'fd'), { recursive: true });
  if (comm !== undefined) fs.writeFileSync(path.join(dir, 'comm'), `${comm}\n`);
  for (const [fd, target] of Object.entries(fds)) fs.symlinkSync(target, path.join(dir, 'fd', fd));
}

describe('host files held open, on a temporary root', () => {
  let host: ReturnType<typeof makeTempRoot>;
  beforeEach(() => {
    host = makeTempRoot();
  });
  afterEach(() => host.cleanup());

  describe('processes holding a file, found through /proc/<pid>/fd', () => {
    it('names each holder of /dev/vfio/<group> by PID and comm (also through a chroot), and nothing else', () => {
      addProcess(host.root, 2817, 'qemu-system-x86', { 0: '/dev/null', 17: '/dev/vfio/vfio', 18: '/dev/vfio/4', 19: 'anon_inode:[vfio-device]' });
      addProcess(host.root, 300, 'vfiotest', { 3: '/dev/vfio/4' });
      addProcess(host.root, 412, 'qemu-system-x86', { 12: '/mnt/nested/dev/vfio/4', 13: '/mnt/nested/dev/vfio/14' });
      addProcess(host.root, 55, 'Xorg', { 9: '/dev/dri/card0', 10: '/dev/vfio/40' });
      fs.mkdirSync(path.join(host.root, 'proc/self'), { recursive: true });
      const io = new SysfsHostIO(host.root);
      const holders = vfioGroupHolders(io, '4');
      assert.deepEqual(holders, [
        { pid: 300, comm: 'vfiotest', files: ['/dev/vfio/4'] },
        { pid: 412, comm: 'qemu-system-x86', files: ['/mnt/nested/dev/vfio/4'] },
        { pid: 2817, comm: 'qemu-system-x86', files: ['/dev/vfio/4'] },
      ]);
      assert.equal(describeHolders(holders), '300/vfiotest, 412/qemu-system-x86, 2817/qemu-system-x86');
      assert.deepEqual(vfioGroupHolders(io, '5'), []);
    });

    it('takes any predicate, and survives a process that went away mid-scan (no comm, no fd dir)', () => {
      addProcess(host.root, 55, undefined, { 9: '/dev/dri/card0', 11: '/dev/dri/renderD128' });
      fs.mkdirSync(path.join(host.root, 'proc/77'), { recursive: true });
      const io = new SysfsHostIO(host.root);
      assert.deepEqual(processesHolding(io, (f) => f.startsWith('/dev/dri/')), [
        { pid: 55, comm: '?', files: ['/dev/dri/card0', '/dev/dri/renderD128'] },
      ]);
    });

    it('finds nothing on a host root without proc', () => {
      assert.deepEqual(vfioGroupHolders(new SysfsHostIO(host.root), '4'), []);
    });
  });

  describe('the vfio group status addon (native/vfio-viability), on files of a temporary root', () => {
    it('is built and loads: a missing group file is absent, a file that is no vfio group cannot answer the ioctl', () => {
      assert.deepEqual(askKernelGroupStatus(path.join(host.root, 'dev/vfio/4')), { answer: 'absent' });
      const plain = path.join(host.root, 'not-a-group');
      fs.writeFileSync(plain, '');
      assert.deepEqual(askKernelGroupStatus(plain), { answer: 'unavailable', why: 'the group file could not be asked (ENOTTY)' });
    });

    it('is never asked below a root other than "/": the ioctl would reach this machine\'s kernel', () => {
      const io = new SysfsHostIO(host.root);
      const status = io.vfioGroupStatus('4');
      assert.equal(status.answer, 'unavailable');
      assert.match(status.answer === 'unavailable' ? status.why : '', /the host root is .*, not the running kernel's/);
      assert.match(JSON.stringify(io.vfioGroupStatus('../4')), /is not an IOMMU group number/);
    });
  });
});
