import assert from 'node:assert/strict';
import { checkGpuResets, checkIommu, checkVfio, type HostFacts } from '../../../src/doctor/host-checks';
import type { GpuResets } from '../../../src/host/gpu-resets';
import type { FunctionResets } from '../../../src/host/pci-reset';
import { fn, gpuOf } from '../engine/gpu-fixture';
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
  return { preflight, kvmDevice: true, gpus: [], gpusWithoutGroup: [], gpuResets: {} };
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

describe('doctor: resets', () => {
  const resets = (display: Partial<FunctionResets>, more: Partial<GpuResets> = {}): GpuResets => ({
    functions: [{ address: '0000:01:00.0', methods: [], source: 'kernel', resettable: false, ...display }],
    slotResetBridge: null,
    displayWorking: display.methods ?? [],
    usable: (display.methods ?? []).length > 0,
    vendorResetFamily: null,
    vendorResetActive: false,
    ...more,
  });
  const check = (r: GpuResets) => {
    const gpu = gpuOf([fn('0000:01:00.0', 'amdgpu', { vendorId: '1002', deviceId: '67df' })]);
    return checkGpuResets({ ...facts({}), gpus: [gpu], gpuResets: { [gpu.address]: r } })[0];
  };

  it('a GPU the kernel resets: ok, naming the methods and the bus reset', () => {
    const c = check(resets({ methods: ['flr', 'pm'] }, { slotResetBridge: '0000:00:01.0' }));
    assert.equal(c.id, 'reset.0000:01:00.0');
    assert.equal(c.status, 'ok');
    assert.equal(c.detail, 'the kernel resets 0000:01:00.0 with flr, pm, and its bus through 0000:00:01.0');
  });

  it('a GPU with no reset at all: a warning with what to do', () => {
    const c = check(resets({ methods: [] }));
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /^0000:01:00\.0 has no reset the kernel can use .* \(reset methods: none\)$/);
    assert.match(c.fix ?? '', /keep it on vfio-pci between VMs/);
  });

  it('a card vendor-reset exists for, without it: a warning naming the family and what to install; with it: ok', () => {
    const without = check(resets({ methods: ['bus'] }, { vendorResetFamily: 'Polaris 10' }));
    assert.equal(without.status, 'warn');
    assert.match(without.detail, /AMD Polaris 10 card, which the kernel cannot reset by itself .*\(reset methods: bus\)$/);
    assert.match(without.fix ?? '', /^install vendor-reset .*device_specific/);
    const withIt = check(resets({ methods: ['device_specific', 'bus'] }, { vendorResetFamily: 'Polaris 10', vendorResetActive: true }));
    assert.equal(withIt.status, 'ok');
    assert.match(withIt.detail, /device_specific, bus \(vendor-reset in place for the AMD Polaris 10\)$/);
  });
});
