// The steps that keep the host off a VM's CPUs while it runs, as plain data: confine the host's
// units to the housekeeping CPUs, switch the VM's CPUs to the "performance" governor, steer
// interrupts away from them. Each step carries the value it replaces; nothing already as wanted
// gets a step.

import type { StepSpec } from '../engine/step-spec';
import { CpuError } from './cpu-error';
import { commonCpus, formatCpuList, sameCpus, withoutCpus } from './cpu-list';
import { ISOLATED_UNITS, type HostCpuFacts } from './host-cpu-facts';
import type { CpuSettings, VmCpuLayout } from './vm-cpu-layout';

export const PERFORMANCE_GOVERNOR = 'performance';

export interface IsolationPlan {
  steps: StepSpec[];
  notes: string[];
}

export function planIsolation(layout: VmCpuLayout, settings: CpuSettings, facts: HostCpuFacts, online: readonly number[]): IsolationPlan {
  const steps: StepSpec[] = [];
  const notes: string[] = [];
  if (settings.isolateCpus) {
    for (const unit of ISOLATED_UNITS) {
      const previous = facts.allowedCpus[unit] ?? [];
      if (!sameCpus(previous, layout.housekeeping)) steps.push({ kind: 'allowed-cpus', unit, cpus: layout.housekeeping, previous });
    }
  }
  if (settings.governor) {
    const scaled = facts.cpufreq.filter((f) => f.governor !== null);
    if (scaled.length === 0) notes.push(`CPUs ${formatCpuList(layout.vmCpus)} have no cpufreq driver, so there is no governor to set`);
    for (const f of scaled) {
      if (!f.available.includes(PERFORMANCE_GOVERNOR)) {
        throw new CpuError('InvalidArgument', 
          `cpu${f.cpu} of VM ${layout.vm} has no "${PERFORMANCE_GOVERNOR}" cpufreq governor (it offers ${f.available.join(', ') || 'none'}); ` +
            `set governor to false for this VM`,
        );
      }
      if (f.governor !== PERFORMANCE_GOVERNOR) steps.push({ kind: 'cpu-governor', cpu: f.cpu, governor: PERFORMANCE_GOVERNOR, previous: f.governor as string });
    }
  }
  if (settings.irqAffinity) {
    for (const { irq, cpus } of facts.irqs) {
      if (commonCpus(cpus, layout.vmCpus).length === 0) continue;
      const elsewhere = commonCpus(withoutCpus(cpus, layout.vmCpus), online);
      steps.push({ kind: 'irq-affinity', irq, cpus: elsewhere.length > 0 ? elsewhere : commonCpus(layout.housekeeping, online), previous: cpus });
    }
  }
  return { steps, notes };
}
