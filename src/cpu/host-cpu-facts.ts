// What the host's CPU knobs read now, gathered before planning so that every step carries the value
// it replaces: AllowedCPUs of the units isolation confines (from systemd), the cpufreq governors of
// the VM's CPUs and the affinity of every interrupt (through HostIO).

import type { HostIO } from '../host/host-io';
import type { AllowedCpusAccess } from '../engine/steps/allowed-cpus';
import { readGovernor } from '../engine/steps/governor';
import { readIrqAffinity } from '../engine/steps/irq-affinity';
import { CPU_SYSFS } from './cpu-topology';

/** The units that hold the host's own work: services, user sessions, and PID 1. */
export const ISOLATED_UNITS = ['system.slice', 'user.slice', 'init.scope'] as const;

export interface CpuFreqFact {
  cpu: number;
  /** null when the CPU has no cpufreq driver (virtual machines, some servers). */
  governor: string | null;
  available: string[];
}

export interface HostCpuFacts {
  /** AllowedCPUs per unit now; [] is "every CPU". */
  allowedCpus: Record<string, number[]>;
  cpufreq: CpuFreqFact[];
  irqs: { irq: number; cpus: number[] }[];
}

export interface FactsWanted {
  units: boolean;
  /** CPUs whose governors matter ([] when governors are not asked for). */
  governorCpus: readonly number[];
  irqs: boolean;
}

export async function readHostCpuFacts(io: HostIO, systemd: AllowedCpusAccess, wanted: FactsWanted): Promise<HostCpuFacts> {
  const allowedCpus: Record<string, number[]> = {};
  if (wanted.units) for (const unit of ISOLATED_UNITS) allowedCpus[unit] = await systemd.read(unit);
  const cpufreq = wanted.governorCpus.map((cpu) => {
    const governor = readGovernor(io, cpu) ?? null;
    const available = (io.readText(`${CPU_SYSFS}/cpu${cpu}/cpufreq/scaling_available_governors`) ?? '').split(/\s+/).filter(Boolean);
    return { cpu, governor, available };
  });
  const irqs: HostCpuFacts['irqs'] = [];
  if (wanted.irqs) {
    for (const entry of io.list('proc/irq')) {
      if (!/^\d+$/.test(entry)) continue;
      const cpus = readIrqAffinity(io, Number(entry));
      if (cpus !== undefined) irqs.push({ irq: Number(entry), cpus });
    }
    irqs.sort((a, b) => a.irq - b.irq);
  }
  return { allowedCpus, cpufreq, irqs };
}
