// gpu-hookctl cpu-plan as users run it (a separate process), on simulated hosts, with a domain
// defined the way libvirt keeps it (<root>/etc/libvirt/qemu/<vm>.xml) and a config file of its own.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { METADATA_NS } from '../../../src/libvirt/domain-request';
import { buildTestDomainXml, type TestDomainSpec } from '../../support/safe-domain';
import { hookctl } from '../cli/hookctl';
import { cpuHost, type CpuHost } from './cpu-host';

describe('gpu-hookctl cpu-plan', () => {
  let h: CpuHost;
  let config: string;

  beforeEach(async () => {
    h = await cpuHost();
    config = path.join(h.stateDir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ vms: { win10: { housekeepingCpus: '0-1,8-9' } } }));
  });

  afterEach(() => h.dispose());

  const define = (spec: TestDomainSpec): void => {
    fs.mkdirSync(path.join(h.host.root, 'etc/libvirt/qemu'), { recursive: true });
    fs.writeFileSync(path.join(h.host.root, `etc/libvirt/qemu/${spec.name}.xml`), buildTestDomainXml(spec));
  };
  const plan = (...args: string[]) => hookctl('cpu-plan', ...args, '--root', h.host.root, '--config', config);

  it('--vcpus 14 on the seed\'s host: the seed\'s own <cputune>, 7 cores with 2 threads, and what the host keeps', () => {
    const r = plan('--vcpus', '14');
    assert.equal(r.code, 0, r.stderr);
    const pins = [1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15].map((cpu, vcpu) => `    <vcpupin vcpu='${vcpu}' cpuset='${cpu}'/>`);
    assert.equal(
      r.stdout,
      [
        'host: 8 cores / 16 threads online in 1 package (CPUs 0-15)',
        'VM with 14 vCPUs: 14 vCPUs on CPUs 1-7,9-15; the host keeps CPUs 0,8',
        '',
        "paste into the domain, in place of its <vcpu>, any <cputune> and its <cpu>'s <topology> (keep your <cpu mode>):",
        "  <vcpu placement='static'>14</vcpu>",
        '  <cputune>',
        ...pins,
        "    <emulatorpin cpuset='0,8'/>",
        '  </cputune>',
        "  <cpu mode='host-passthrough'>",
        "    <topology sockets='1' dies='1' cores='7' threads='2'/>",
        '  </cpu>',
        '',
        'isolateCpus is off for VM with 14 vCPUs: with it on, system.slice, user.slice, init.scope run on CPUs 0,8 only',
        '',
      ].join('\n'),
    );
  });

  it('a defined VM: its vCPUs, its config section\'s housekeeping CPUs and its metadata\'s settings', () => {
    define({ name: 'win10', vcpus: 4, metadata: `<hookd:vm xmlns:hookd='${METADATA_NS}' isolateCpus='yes' governor='yes'/>` });
    const r = plan('win10');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^VM win10: 4 vCPUs on CPUs 2-3,10-11; the host keeps CPUs 0-1,8-9$/m);
    assert.match(r.stdout, /paste into the domain \(virsh edit win10\)/);
    assert.match(r.stdout, /^isolateCpus is on for VM win10: while it runs, system\.slice, user\.slice, init\.scope run on CPUs 0-1,8-9 only$/m);
    assert.match(r.stdout, /^governor is on: CPUs 2-3,10-11 run the "performance" cpufreq governor while it runs$/m);
    assert.match(plan('win10', '--housekeeping', '0,8').stdout, /^VM win10: 4 vCPUs on CPUs 1-2,9-10; the host keeps CPUs 0,8$/m);
  });

  it('a VM that pins itself: says where it runs instead of planning', () => {
    define({ name: 'pinned', vcpus: 2, cputune: { vcpupins: [{ vcpu: 0, cpuset: '5' }, { vcpu: 1, cpuset: '13' }] } });
    const r = plan('pinned');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^VM pinned pins its vCPUs in its own <cputune>: it runs on CPUs 5,13; the host keeps CPUs 0-4,6-12,14-15$/m);
    assert.doesNotMatch(r.stdout, /<vcpupin/);
  });

  it('a 2-CPU host like the test machine: both vCPUs on CPU 1, and a note that they share it', async () => {
    const small = await cpuHost({ cpu: { vendor: 'intel', model: 'test', coresPerSocket: 2, threadsPerCore: 1 } });
    try {
      const r = hookctl('cpu-plan', '--vcpus', '2', '--config', config, '--root', small.host.root);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /<vcpupin vcpu='0' cpuset='1'\/>\n {4}<vcpupin vcpu='1' cpuset='1'\/>\n {4}<emulatorpin cpuset='0'\/>/);
      assert.match(r.stdout, /<topology sockets='1' dies='1' cores='2' threads='1'\/>/);
      assert.match(r.stdout, /^note: 2 vCPUs share CPU 1 \(1 host CPU\), so vCPUs wait for each other; give the VM at most 1 vCPU$/m);
    } finally {
      await small.dispose();
    }
  });

  it('one-sentence errors: an unknown VM, a CPU the host lacks; usage errors exit 2', () => {
    const unknown = plan('nosuchvm');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^gpu-hookctl cpu-plan: no domain nosuchvm is defined here: \S+\/etc\/libvirt\/qemu\/nosuchvm\.xml does not exist \(virsh list --all shows the names; for a transient domain plan with --vcpus N\)\n$/);
    define({ name: 'bad', vcpus: 1, cputune: { vcpupins: [{ vcpu: 0, cpuset: '17' }] } });
    assert.match(plan('bad').stderr, /^gpu-hookctl cpu-plan: <vcpupin vcpu='0'> of VM bad names CPU 17, which this host does not have \(its CPUs are 0-15\); change the list\n$/);
    for (const args of [[], ['win10', '--vcpus', '2'], ['--vcpus', 'x'], ['--vcpus', '0'], ['a', 'b'], ['--root', '/nonexistent-dir']]) {
      assert.equal(plan(...args).code, 2, args.join(' '));
    }
    assert.match(plan('--vcpus', 'x').stderr, /--vcpus must be a whole number from 1 to 4096, got "x"/);
  });
});
