// Asking libvirt which domains run when libvirt cannot answer: each failure is one sentence, and the
// daemon's check says "unknown" (undefined), which keeps the GPUs recorded for VMs. The listing of a
// real libvirtd is tested with it in virsh-start.test.ts.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LibvirtQueryError, listRunningDomains, runningDomainCheck } from '../../../src/libvirt/running-domains';
import { makeTempRoot } from '../../support/temp-root';

describe('asking libvirt which domains run, when it cannot answer', () => {
  let dir: { root: string; cleanup: () => void };

  before(() => {
    dir = makeTempRoot('gpu-hookd-virsh-');
  });

  after(() => dir.cleanup());

  /** A stand-in virsh: a shell script doing `body`, which records its arguments. */
  function fakeVirsh(name: string, body: string): string {
    const file = path.join(dir.root, name);
    fs.writeFileSync(file, `#!/bin/sh\necho "$@" > '${file}.args'\n${body}\n`, { mode: 0o755 });
    return file;
  }

  it('asks read-only, on qemu:///system, for names only', async () => {
    const virsh = fakeVirsh('virsh-ok', 'printf "win10\\nlinux\\n\\n"');
    assert.deepEqual([...(await listRunningDomains({ virsh }))], ['win10', 'linux']);
    assert.equal(fs.readFileSync(`${virsh}.args`, 'utf8').trim(), '-r -c qemu:///system list --name');
  });

  it('names the missing virsh and the package that has it', async () => {
    await assert.rejects(listRunningDomains({ virsh: path.join(dir.root, 'no-such-virsh') }), (e: unknown) => {
      assert.ok(e instanceof LibvirtQueryError);
      assert.match(e.message, /^cannot ask libvirt which VMs run: .*no-such-virsh is not installed \(install libvirt-clients\)$/);
      return true;
    });
  });

  it("passes on libvirt's own reason when it refuses", async () => {
    const virsh = fakeVirsh('virsh-down', `echo "error: failed to connect to the hypervisor" >&2\necho "error: Failed to connect socket to '/run/libvirt/libvirt-sock-ro': No such file or directory" >&2\nexit 1`);
    await assert.rejects(listRunningDomains({ virsh, uri: 'qemu:///system' }), {
      name: 'LibvirtQueryError',
      message: "cannot ask libvirt (qemu:///system) which VMs run: Failed to connect socket to '/run/libvirt/libvirt-sock-ro': No such file or directory",
    });
  });

  it('gives up on a libvirt that does not answer in time, naming the limit', async () => {
    const virsh = fakeVirsh('virsh-stuck', 'exec sleep 30');
    await assert.rejects(listRunningDomains({ virsh, timeoutMs: 200 }), {
      name: 'LibvirtQueryError',
      message: 'libvirt (qemu:///system) did not list its running VMs within 200 ms: is libvirtd stuck? (systemctl status libvirtd)',
    });
  });

  it("the daemon's check: unknown when libvirt cannot answer, reported once per listing", async () => {
    const errors: string[] = [];
    const check = runningDomainCheck({ virsh: fakeVirsh('virsh-fails', 'echo "error: boom" >&2; exit 1'), onError: (e) => errors.push(e.message) });
    assert.equal(await check('win10'), undefined);
    assert.equal(await check('linux'), undefined);
    assert.deepEqual(errors, ['cannot ask libvirt (qemu:///system) which VMs run: boom']);
  });

  it("the daemon's check: one listing answers the questions asked right after it", async () => {
    const virsh = fakeVirsh('virsh-count', `echo x >> '${path.join(dir.root, 'calls')}'\necho win10`);
    const check = runningDomainCheck({ virsh });
    assert.deepEqual([await check('win10'), await check('linux')], [true, false]);
    assert.equal(fs.readFileSync(path.join(dir.root, 'calls'), 'utf8'), 'x\n');
  });
});
