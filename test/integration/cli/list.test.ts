import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ListReport } from '../../../src/cli/list-report';
import { makeTempRoot } from '../../support/temp-root';
import { seedLikeHost, writeFixtureHost } from '../host/fixture-host';
import { hookctl } from './hookctl';

describe('gpu-hookctl (process) over a fixture host', () => {
  let root: string;
  let cleanup: () => void;

  before(() => {
    ({ root, cleanup } = makeTempRoot('gpu-hookd-cli-'));
    writeFixtureHost(root, seedLikeHost());
  });
  after(() => cleanup());

  it('list prints the table of GPUs and exits 0', () => {
    const r = hookctl('list', '--root', root);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^GPU 0000:01:00\.0 {2}NVIDIA Corporation TU106 \[GeForce RTX 2060 Rev\. A\] \(ROG Strix RTX 2060\) {2}\[boot VGA\]$/m);
    assert.match(r.stdout, /IOMMU group 1: viable/);
    // The fixture has no kernel release, no reset file and 64 bytes of config space: no reset is known.
    assert.match(r.stdout, /^ {2}0000:01:00\.1 {2}10de:10f9 {2}snd_hda_intel +- +none +moves with GPU/m);
    assert.doesNotMatch(r.stdout, /0000:02:00\.0/, 'the NIC is in its own group');
  });

  it('list --json prints one JSON object with the GPUs, their groups and viability', () => {
    const r = hookctl('list', '--json', `--root=${root}`);
    assert.equal(r.code, 0);
    const report = JSON.parse(r.stdout) as ListReport;
    assert.equal(report.root, root);
    assert.equal(report.preflight.iommuGroupCount, 3);
    assert.deepEqual(report.gpus.map((g) => [g.address, g.iommuGroup, g.viability.viable]), [['0000:01:00.0', '1', true]]);
    assert.deepEqual(report.gpus[0].functions, ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3']);
    assert.deepEqual(
      report.gpus[0].members.map((m) => [m.address, m.role, m.driver]),
      [
        ['0000:01:00.0', 'display', 'nouveau'],
        ['0000:01:00.1', 'function', 'snd_hda_intel'],
        ['0000:01:00.2', 'function', 'xhci_hcd'],
        ['0000:01:00.3', 'function', 'nvidia-gpu'],
      ],
    );
  });

  it('unknown options and verbs: one line naming them, the usage, exit 2', () => {
    const flag = hookctl('list', '--root', root, '--colour');
    assert.equal(flag.code, 2);
    assert.equal(flag.stdout, '');
    assert.equal(flag.stderr.split('\n')[0], 'gpu-hookctl: list: unknown option --colour');
    assert.match(flag.stderr, /^usage: gpu-hookctl list \[--root DIR\] \[--json\]$/m);

    const verb = hookctl('frobnicate');
    assert.equal(verb.code, 2);
    assert.equal(verb.stderr.split('\n')[0], 'gpu-hookctl: unknown command "frobnicate"');
    assert.match(verb.stderr, /^ {2}list +show GPUs/m);

    assert.equal(hookctl().code, 2);
    assert.equal(hookctl('list', '--root').stderr.split('\n')[0], 'gpu-hookctl: list: option --root needs a value');
    assert.equal(hookctl('list', '--json=yes', '--root', root).stderr.split('\n')[0], 'gpu-hookctl: list: option --json takes no value');
    assert.equal(hookctl('list', 'extra', '--root', root).stderr.split('\n')[0], 'gpu-hookctl: list: unexpected argument "extra"');
    const relative = hookctl('list', '--json', '--root', path.relative(process.cwd(), root));
    assert.equal(relative.code, 0);
    assert.equal((JSON.parse(relative.stdout) as ListReport).root, root, 'a relative --root is reported absolute');
    const missing = hookctl('list', '--root', path.join(root, 'nope'));
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr.split('\n')[0], `gpu-hookctl: list: --root ${path.join(root, 'nope')} is not a directory`);
  });

  it('a host tree that cannot be read: one line naming the root and the cause, exit 1', () => {
    const { root: broken, cleanup: removeBroken } = makeTempRoot('gpu-hookd-cli-broken-');
    try {
      fs.mkdirSync(path.join(broken, 'proc/cmdline'), { recursive: true });
      const r = hookctl('list', '--root', broken);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^gpu-hookctl list: reading the host below \S+ failed \(EISDIR[^\n]*\): point --root at a host tree[^\n]*\n$/);
    } finally {
      removeBroken();
    }
  });

  it('--help prints the usage with the exit codes and exits 0', () => {
    const r = hookctl('--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /exit codes: 0 done, 1 failed \(stderr says why\), 2 wrong command line/);
    assert.match(hookctl('list', '--help').stdout, /^usage: gpu-hookctl list/);
    assert.equal(hookctl('help', 'list').stdout, hookctl('list', '--help').stdout);
  });
});
