// AllowedCPUs through systemd's manager on the bus (src/host/systemd-manager.ts), in CPU numbers:
// the byte mask systemd speaks is made and read here, and every write is runtime-only.

import type { AllowedCpusAccess } from '../engine/steps/allowed-cpus';
import type { SystemdManager } from '../host/systemd-manager';
import { allowedCpusMask, cpusOfMask } from './allowed-cpus-mask';

export function systemdAllowedCpus(systemd: Pick<SystemdManager, 'allowedCpus' | 'setAllowedCpus'>): AllowedCpusAccess {
  return {
    read: async (unit) => cpusOfMask(await systemd.allowedCpus(unit)),
    write: (unit, cpus) => systemd.setAllowedCpus(unit, allowedCpusMask(cpus), true),
  };
}
