// The host's CPUs as sysfs shows them: which exist, which are online, and for each online CPU its
// package and its thread siblings (the CPUs of one physical core). Offline CPUs have no topology
// directory (the kernel removes it while a CPU is down), so they belong to no core. Hybrid Intel
// parts list their P-cores and E-cores in sys/devices/cpu_core/cpus and cpu_atom/cpus.

import type { HostIO } from '../host/host-io';
import { parseCpuList } from './cpu-list';

export const CPU_SYSFS = 'sys/devices/system/cpu';

export type CoreKind = 'performance' | 'efficiency';

export interface HostCore {
  /** The core's online threads, ascending (its thread_siblings_list). */
  cpus: number[];
  package: number;
  /** null unless the host is hybrid. */
  kind: CoreKind | null;
}

export interface CpuTopology {
  /** Every CPU the kernel could bring up (cpu/possible). */
  possible: number[];
  online: number[];
  /** Online CPUs grouped by physical core, ordered by their first CPU. */
  cores: HostCore[];
}

export class CpuTopologyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CpuTopologyError';
  }
}

export function readCpuTopology(io: HostIO): CpuTopology {
  const list = (name: string): number[] => {
    const text = io.readText(`${CPU_SYSFS}/${name}`);
    if (text === undefined) {
      throw new CpuTopologyError(`the host's CPUs cannot be read: ${io.abs(`${CPU_SYSFS}/${name}`)} is missing (is sysfs mounted?)`);
    }
    return parseCpuList(text);
  };
  const possible = list('possible');
  const online = list('online');
  const performance = new Set(parseCpuList(io.readText('sys/devices/cpu_core/cpus') ?? ''));
  const efficiency = new Set(parseCpuList(io.readText('sys/devices/cpu_atom/cpus') ?? ''));
  const cores = new Map<number, HostCore>();
  for (const cpu of online) {
    const dir = `${CPU_SYSFS}/cpu${cpu}/topology`;
    // core_cpus_list is the newer name of thread_siblings_list (5.7+); both exist today.
    const siblingsText = io.readText(`${dir}/core_cpus_list`) ?? io.readText(`${dir}/thread_siblings_list`);
    const siblings = siblingsText === undefined ? [cpu] : parseCpuList(siblingsText).filter((c) => online.includes(c));
    const first = siblings.length > 0 ? siblings[0] : cpu;
    if (cores.has(first)) continue;
    const kind: CoreKind | null = performance.has(cpu) ? 'performance' : efficiency.has(cpu) ? 'efficiency' : null;
    cores.set(first, { cpus: siblings.length > 0 ? siblings : [cpu], package: Number(io.readText(`${dir}/physical_package_id`) ?? '0'), kind });
  }
  return { possible, online, cores: [...cores.values()].sort((a, b) => a.cpus[0] - b.cpus[0]) };
}

/** One line for people: "8 cores / 16 threads online in 1 package (CPUs 0-15)". */
export function describeTopology(t: CpuTopology): string {
  const packages = new Set(t.cores.map((c) => c.package)).size;
  const p = t.cores.filter((c) => c.kind === 'performance').length;
  const e = t.cores.filter((c) => c.kind === 'efficiency').length;
  const hybrid = p > 0 && e > 0 ? ` (${p} P-cores, ${e} E-cores)` : '';
  const offline = t.possible.length - t.online.length;
  return (
    `${t.cores.length} cores / ${t.online.length} threads online in ${packages} package${packages === 1 ? '' : 's'}${hybrid}` +
    (offline > 0 ? `, ${offline} CPU${offline === 1 ? '' : 's'} offline` : '')
  );
}
