// Host topologies for planning tests, numbered as the simulated host numbers them (src/sim/cpu-model:
// "spread" siblings are cpuN and cpuN+cores, as x86 firmware usually does; hybrid parts number
// P-core pairs first, then E-cores), so unit and integration tests speak of the same machines.

import type { CpuTopology, HostCore } from '../../../src/cpu/cpu-topology';
import { cpuLayout } from '../../../src/sim/cpu-model';
import type { CpuSpec } from '../../../src/sim/scenario';

export interface TopologySpec {
  sockets?: number;
  cores?: number;
  threads?: 1 | 2;
  siblings?: 'spread' | 'adjacent';
  hybrid?: { performanceCores: number; efficiencyCores: number };
  offline?: number[];
}

export function cpuSpec(t: TopologySpec): CpuSpec {
  return {
    vendor: 'intel',
    model: 'test',
    sockets: t.sockets ?? 1,
    coresPerSocket: t.hybrid ? t.hybrid.performanceCores + t.hybrid.efficiencyCores : (t.cores ?? 8),
    threadsPerCore: t.threads ?? 2,
    hybrid: t.hybrid ?? null,
    siblings: t.siblings ?? (t.hybrid ? 'adjacent' : 'spread'),
    offline: t.offline ?? [],
    governor: 'powersave',
    governors: ['performance', 'powersave'],
  };
}

export function topologyOf(t: TopologySpec): CpuTopology {
  const places = cpuLayout(cpuSpec(t));
  const offline = new Set(t.offline ?? []);
  const online = places.map((p) => p.cpu).filter((c) => !offline.has(c));
  const byCore = new Map<number, HostCore>();
  for (const p of places) {
    if (offline.has(p.cpu)) continue;
    const core = byCore.get(p.core) ?? { cpus: [], package: p.pkg, kind: p.kind === 'core' ? 'performance' : p.kind === 'atom' ? 'efficiency' : null };
    core.cpus.push(p.cpu);
    byCore.set(p.core, core);
  }
  const cores = [...byCore.values()].map((c) => ({ ...c, cpus: c.cpus.sort((a, b) => a - b) })).sort((a, b) => a.cpus[0] - b.cpus[0]);
  return { possible: places.map((p) => p.cpu), online, cores };
}

/** The seed's i9-9900K: 8 cores, 16 threads, siblings N and N+8. */
export const SEED = topologyOf({ cores: 8, threads: 2 });
/** This development machine: 2 cores, no SMT. */
export const TWO_CPUS = topologyOf({ cores: 2, threads: 1 });
