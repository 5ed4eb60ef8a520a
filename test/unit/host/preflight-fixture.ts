// Preflight facts of a host ready for passthrough; tests override the one fact they are about.

import type { PreflightFacts } from '../../../src/host/preflight';

export function readyHostFacts(overrides: Partial<PreflightFacts> = {}): PreflightFacts {
  return {
    kernelRelease: '6.1.0-test',
    iommuGroupCount: 14,
    iommuGroupsPresent: true,
    cmdline: 'intel_iommu=on iommu=pt',
    iommuCmdline: { intelIommuOn: true, amdIommu: null, iommuPassthrough: true },
    devVfioPresent: true,
    vfioPci: { loaded: true, builtIn: false, loadable: true },
    cpuVirtualization: 'vmx',
    ...overrides,
  };
}
