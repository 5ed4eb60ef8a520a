import assert from 'node:assert/strict';
import { listsModule } from '../../../src/host/modules';
import { cpuVirtualizationFlag, parseIommuCmdline, preflightProblems } from '../../../src/host/preflight';
import { readyHostFacts as facts } from './preflight-fixture';

describe('preflight facts', () => {
  it('reads the IOMMU switches of the kernel command line, the last one winning', () => {
    assert.deepEqual(parseIommuCmdline('BOOT_IMAGE=/vmlinuz intel_iommu=off quiet intel_iommu=on,sm_on iommu=pt'), {
      intelIommuOn: true,
      amdIommu: null,
      iommuPassthrough: true,
    });
    assert.deepEqual(parseIommuCmdline('amd_iommu=on iommu=nopt'), { intelIommuOn: false, amdIommu: 'on', iommuPassthrough: false });
    assert.deepEqual(parseIommuCmdline(''), { intelIommuOn: false, amdIommu: null, iommuPassthrough: false });
  });

  it('finds vmx or svm in the flags line of /proc/cpuinfo', () => {
    assert.equal(cpuVirtualizationFlag('processor\t: 0\nflags\t\t: fpu vme vmx sse\n'), 'vmx');
    assert.equal(cpuVirtualizationFlag('flags\t\t: fpu svm\n'), 'svm');
    assert.equal(cpuVirtualizationFlag('flags\t\t: fpu sse\nvmx_flags\t: vnmi\n'), null);
    assert.equal(cpuVirtualizationFlag(''), null);
  });

  it('finds a module in modules.builtin / modules.dep by file name, with - and _ alike', () => {
    assert.equal(listsModule('kernel/drivers/vfio/pci/vfio-pci.ko.zst: kernel/drivers/vfio/vfio.ko.zst\n', 'vfio_pci'), true);
    assert.equal(listsModule('kernel/drivers/vfio/pci/vfio_pci_core.ko\n', 'vfio_pci'), false);
    assert.equal(listsModule(undefined, 'vfio_pci'), null);
  });

  it('reports nothing on a ready host, and one sentence with the fix per blocker', () => {
    assert.deepEqual(preflightProblems(facts()), []);
    assert.deepEqual(preflightProblems(facts({ vfioPci: { loaded: false, builtIn: false, loadable: true }, devVfioPresent: false })), []);
    const [iommu] = preflightProblems(facts({ iommuGroupCount: 0, iommuGroupsPresent: false }));
    assert.match(iommu, /no IOMMU groups.*enable VT-d in the firmware setup and add intel_iommu=on/);
    const [amd] = preflightProblems(facts({ iommuGroupsPresent: false, cpuVirtualization: 'svm' }));
    assert.match(amd, /AMD-Vi/);
    const [cpu] = preflightProblems(facts({ cpuVirtualization: null }));
    assert.match(cpu, /no virtualization flag/);
    const [vfio] = preflightProblems(facts({ vfioPci: { loaded: false, builtIn: false, loadable: false } }));
    assert.match(vfio, /vfio-pci is neither loaded, built in, nor installed as a module for kernel 6\.1\.0-test/);
    const [dev] = preflightProblems(facts({ devVfioPresent: false }));
    assert.match(dev, /\/dev\/vfio\/vfio is missing/);
  });
});
