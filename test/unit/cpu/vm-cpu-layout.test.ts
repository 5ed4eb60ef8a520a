import assert from 'node:assert/strict';
import { CpuError } from '../../../src/cpu/cpu-error';
import { formatCpuList } from '../../../src/cpu/cpu-list';
import { resolveVmCpuLayout, wantsCpuWork, type CpuSettings } from '../../../src/cpu/vm-cpu-layout';
import { readDomainRequest, type DomainRequest } from '../../../src/libvirt/domain-request';
import { buildTestDomainXml, type TestDomainSpec } from '../../support/safe-domain';
import { SEED, topologyOf } from './topology-fixtures';

const NOTHING: CpuSettings = { isolateCpus: false, pin: 'none', governor: false, irqAffinity: false, housekeepingCpus: '' };
const ISOLATE: CpuSettings = { ...NOTHING, isolateCpus: true };
const AUTO: CpuSettings = { ...NOTHING, pin: 'auto' };

function domain(spec: Partial<TestDomainSpec>): DomainRequest {
  return readDomainRequest(buildTestDomainXml({ name: 'win10', vcpus: 4, ...spec }));
}

function refused(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CpuError, String(e));
    assert.equal(e.kind, 'InvalidArgument');
    assert.match(e.message, re);
    return true;
  });
}

const pins = (...sets: string[]) => ({ vcpupins: sets.map((cpuset, vcpu) => ({ vcpu, cpuset })) });

describe('a VM\'s CPU layout from its domain XML, its settings and the host', () => {
  it('asks for CPU work only when a setting asks for it', () => {
    assert.equal(wantsCpuWork(NOTHING), false);
    assert.equal(wantsCpuWork({ ...NOTHING, housekeepingCpus: '0' }), false);
    for (const s of [ISOLATE, AUTO, { ...NOTHING, governor: true }, { ...NOTHING, irqAffinity: true }]) assert.equal(wantsCpuWork(s), true);
  });

  describe('pin "auto" with no <cputune>', () => {
    it('plans the threads\' pins; QEMU\'s other threads go to the housekeeping CPUs', () => {
      const layout = resolveVmCpuLayout(domain({ vcpus: 14 }), { ...AUTO, isolateCpus: true }, SEED);
      assert.equal(layout.source, 'auto');
      assert.deepEqual(layout.threadPins, { vcpus: [1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15], emulator: [0, 8] });
      assert.equal(formatCpuList(layout.vmCpus), '1-7,9-15');
      assert.equal(formatCpuList(layout.housekeeping), '0,8');
      assert.deepEqual(layout.guestTopology, { sockets: 1, dies: 1, cores: 7, threads: 2 });
    });

    it('keeps the domain\'s own <emulatorpin> for QEMU\'s other threads', () => {
      const layout = resolveVmCpuLayout(domain({ vcpus: 2, cputune: { emulatorpin: '8' } }), AUTO, SEED);
      assert.deepEqual(layout.threadPins, { vcpus: [1, 9], emulator: [8] });
    });

    it('refuses together with <vcpu cpuset>, which would confine the vCPUs elsewhere', () => {
      refused(() => resolveVmCpuLayout(domain({ vcpuCpuset: '4-7' }), AUTO, SEED), /VM win10 has both <vcpu cpuset='4-7'> and pin "auto".*remove the cpuset or set pin to "none"/);
    });
  });

  describe('the domain\'s own <cputune>', () => {
    it('wins over pin "auto": the VM runs where its vcpupins say and gpu-hookd pins no thread', () => {
      const layout = resolveVmCpuLayout(domain({ cputune: pins('2', '10', '3', '11') }), { ...AUTO, isolateCpus: true }, SEED);
      assert.equal(layout.source, 'cputune');
      assert.equal(layout.threadPins, null);
      assert.equal(formatCpuList(layout.vmCpus), '2-3,10-11');
      assert.equal(formatCpuList(layout.housekeeping), '0-1,4-9,12-15');
    });

    it('refuses a vcpupin for a vCPU the domain does not have', () => {
      refused(
        () => resolveVmCpuLayout(domain({ vcpus: 2, cputune: { vcpupins: [{ vcpu: 5, cpuset: '3' }] } }), ISOLATE, SEED),
        /^<vcpupin vcpu='5'> of VM win10 names a vCPU the domain does not have \(it has 2, numbered from 0\); fix the vcpu attribute$/,
      );
    });

    it('refuses a CPU the host does not have, and one that is offline, saying how to fix each', () => {
      refused(
        () => resolveVmCpuLayout(domain({ cputune: pins('1', '17', '2', '3') }), ISOLATE, SEED),
        /^<vcpupin vcpu='1'> of VM win10 names CPU 17, which this host does not have \(its CPUs are 0-15\); change the list$/,
      );
      refused(
        () => resolveVmCpuLayout(domain({ cputune: pins('1', '2', '3', '4') }), ISOLATE, topologyOf({ cores: 8, offline: [3] })),
        /^<vcpupin vcpu='2'> of VM win10 names CPU 3, which is offline; bring it online \(echo 1 > \/sys\/devices\/system\/cpu\/cpu3\/online\) or change the list$/,
      );
      refused(() => resolveVmCpuLayout(domain({ cputune: { emulatorpin: '99' } }), AUTO, SEED), /^<emulatorpin> of VM win10 names CPU 99/);
      refused(() => resolveVmCpuLayout(domain({ cputune: pins('1-', '2', '3', '4') }), ISOLATE, SEED), /^<vcpupin vcpu='0'> of VM win10 is not a CPU list: "1-" is not a CPU list/);
    });

    it('refuses a vcpupin on the CPUs the host keeps (housekeepingCpus)', () => {
      refused(
        () => resolveVmCpuLayout(domain({ cputune: pins('1', '8-9', '2', '3') }), { ...ISOLATE, housekeepingCpus: '0,8' }, SEED),
        /^<vcpupin vcpu='1'> of VM win10 pins it to CPU 8, which the host keeps for itself \(housekeepingCpus 0,8\); pin the vCPU elsewhere or change housekeepingCpus$/,
      );
    });

    it('refuses isolation when a vCPU is left unpinned and may run anywhere', () => {
      refused(() => resolveVmCpuLayout(domain({ cputune: pins('1', '9') }), ISOLATE, SEED), /^vCPU 2 of VM win10 has no <vcpupin> and the domain has no <vcpu cpuset>/);
      const withCpuset = resolveVmCpuLayout(domain({ cputune: pins('1', '9'), vcpuCpuset: '2-3' }), ISOLATE, SEED);
      assert.equal(formatCpuList(withCpuset.vmCpus), '1-3,9');
    });

    it('accepts libvirt\'s ^ exclusions in a cpuset', () => {
      const layout = resolveVmCpuLayout(domain({ vcpus: 1, cputune: pins('1-3,^2') }), ISOLATE, SEED);
      assert.deepEqual(layout.vmCpus, [1, 3]);
    });
  });

  describe('no pins at all', () => {
    it('uses <vcpu cpuset> as the VM\'s CPUs', () => {
      const layout = resolveVmCpuLayout(domain({ vcpuCpuset: '4-7,12-15' }), ISOLATE, SEED);
      assert.equal(layout.source, 'vcpu-cpuset');
      assert.equal(formatCpuList(layout.housekeeping), '0-3,8-11');
    });

    it('uses "all the host does not keep" when housekeepingCpus is set', () => {
      const layout = resolveVmCpuLayout(domain({}), { ...ISOLATE, housekeepingCpus: '0,8' }, SEED);
      assert.equal(layout.source, 'housekeeping');
      assert.equal(formatCpuList(layout.vmCpus), '1-7,9-15');
    });

    it('refuses when the VM\'s CPUs cannot be known, naming every way to say them', () => {
      refused(
        () => resolveVmCpuLayout(domain({}), { ...NOTHING, governor: true }, SEED),
        /^VM win10 asks gpu-hookd to keep host work off its CPUs, but its CPUs are unknown.*set pin to "auto", pin its vCPUs in the domain XML \(gpu-hookctl cpu-plan win10 prints a <cputune>\), or set housekeepingCpus$/,
      );
    });
  });

  it('refuses housekeepingCpus that name a CPU the host lacks', () => {
    refused(() => resolveVmCpuLayout(domain({}), { ...AUTO, housekeepingCpus: '0,16' }, SEED), /^housekeepingCpus of VM win10 names CPU 16, which this host does not have/);
  });

  it('refuses a VM that would leave the host no CPU of its own', () => {
    refused(
      () => resolveVmCpuLayout(domain({ vcpuCpuset: '0-15' }), ISOLATE, SEED),
      /^VM win10 would leave the host no CPU of its own: of the online CPUs 0-15, it runs on 0-15; give it fewer CPUs or set housekeepingCpus$/,
    );
    // Another VM pinned with housekeepingCpus "1" holds core 0: this one gets core 1, and nothing is left.
    refused(
      () => resolveVmCpuLayout(domain({ vcpus: 1 }), AUTO, topologyOf({ cores: 2, threads: 1 }), { taken: [0] }),
      /^VM win10 would leave the host no CPU of its own: of the online CPUs 0-1, it runs on 1 and other VMs hold 0;/,
    );
  });

  it('plans automatically around CPUs other running VMs hold', () => {
    const layout = resolveVmCpuLayout(domain({ vcpus: 2 }), AUTO, SEED, { taken: [1, 9] });
    assert.deepEqual(layout.threadPins?.vcpus, [2, 10]);
  });
});
