import assert from 'node:assert/strict';
import { checkIommu, checkVfio, type HostFacts } from '../../../src/doctor/host-checks';
import { parseIommuCmdline, type PreflightFacts } from '../../../src/host/preflight';

function facts(p: Partial<PreflightFacts>, cmdline = ''): HostFacts {
  const preflight: PreflightFacts = {
    kernelRelease: '6.6.8',
    iommuGroupCount: 0,
    iommuGroupsPresent: false,
    cmdline,
    iommuCmdline: parseIommuCmdline(cmdline),
    devVfioPresent: true,
    vfioPci: { loaded: true, builtIn: false, loadable: true },
    cpuVirtualization: 'vmx',
    ...p,
  };
  return { preflight, kvmDevice: true, gpus: [], gpusWithoutGroup: [] };
}

describe('doctor: IOMMU', () => {
  it('AMD without any switch: the firmware, not the command line (AMD-Vi is on by default)', () => {
    const c = checkIommu(facts({ cpuVirtualization: 'svm' }));
    assert.equal(c.status, 'fail');
    assert.match(c.fix ?? '', /^enable the IOMMU \("IOMMU" or "AMD-Vi"\) in the firmware setup/);
  });

  it('Intel with groups but no switch (a kernel with the IOMMU on by default): passes', () => {
    const c = checkIommu(facts({ iommuGroupsPresent: true, iommuGroupCount: 12 }));
    assert.equal(c.status, 'ok');
    assert.equal(c.detail, 'IOMMU on: 12 groups in /sys/kernel/iommu_groups (no IOMMU switch on the kernel command line)');
  });
});

describe('doctor: vfio', () => {
  it('built in counts as loaded; unreadable module lists only warn', () => {
    assert.match(checkVfio(facts({ vfioPci: { loaded: true, builtIn: true, loadable: false } })).detail, /built into the kernel/);
    assert.equal(checkVfio(facts({ vfioPci: { loaded: false, builtIn: null, loadable: null } })).status, 'warn');
  });
});
