// Automatic vCPU pinning by topology ("pin: auto"): the VM gets whole physical cores, so a vCPU never
// shares a core with host work, and vCPU pairs 2k/2k+1 land on the two threads of one core, which is
// what the guest is told (<topology threads='2'>). The first core stays with the host unless the
// config names the housekeeping CPUs. On the seed's 8-core/16-thread host a 14-vCPU guest gets cores
// 1-7 (CPUs 1-7,9-15) and the host keeps CPUs 0,8, as the seed's hand-written <cputune> did.
// On hybrid parts P-cores are taken before E-cores; on several packages one package is preferred
// when it can hold the whole VM (its memory is local there).

import { CpuError } from './cpu-error';
import { commonCpus, cpusPhrase, formatCpuList, withoutCpus } from './cpu-list';
import type { CpuTopology, HostCore } from './cpu-topology';

export interface GuestTopology {
  sockets: number;
  dies: number;
  cores: number;
  threads: number;
}

export interface AutoPinPlan {
  /** The host CPU of each vCPU, by vCPU index. */
  vcpuPins: number[];
  /** Every thread of the cores given to the VM (a spare sibling stays idle rather than go to the host). */
  vmCpus: number[];
  /** Where host work and QEMU's own threads run. */
  housekeeping: number[];
  guestTopology: GuestTopology;
  /** Things the user should know about the plan (shared CPUs, mixed core kinds). */
  notes: string[];
}

export interface AutoPinOptions {
  /** The CPUs the host keeps, from the config or metadata; default: the first core, then all the VM does not use. */
  housekeeping?: readonly number[];
  /** CPUs other running VMs hold: never planned again. */
  taken?: readonly number[];
}

export function planAutoPins(topology: CpuTopology, vcpus: number, vm: string, options: AutoPinOptions = {}): AutoPinPlan {
  if (!Number.isInteger(vcpus) || vcpus < 1) throw new CpuError('InvalidArgument', `VM ${vm} cannot be pinned: it has ${vcpus} vCPUs`);
  const explicit = options.housekeeping !== undefined && options.housekeeping.length > 0;
  const kept = explicit ? [...(options.housekeeping as number[])] : (topology.cores[0]?.cpus ?? []);
  const taken = options.taken ?? [];
  const free = topology.cores.filter((core) => commonCpus(core.cpus, [...kept, ...taken]).length === 0);
  if (free.length === 0) {
    const why = taken.length > 0 ? ` and other VMs hold ${cpusPhrase(taken)}` : '';
    throw new CpuError('InvalidArgument', 
      `VM ${vm} cannot be pinned: this host's online CPUs ${formatCpuList(topology.online)} leave no whole core once the host keeps ` +
        `${cpusPhrase(kept)}${why}; set housekeepingCpus to fewer CPUs or set pin to "none"`,
    );
  }
  const chosen = chooseCores(free, vcpus);
  const threads = chosen.flatMap((core) => core.cpus);
  const vcpuPins = Array.from({ length: vcpus }, (_, i) => threads[i % threads.length]);
  const vmCpus = [...threads].sort((a, b) => a - b);
  const housekeeping = explicit ? [...kept].sort((a, b) => a - b) : withoutCpus(topology.online, [...vmCpus, ...taken]);
  const notes: string[] = [];
  if (vcpus > threads.length) {
    notes.push(
      `${vcpus} vCPUs share ${cpusPhrase(vmCpus)} (${threads.length} host CPU${threads.length === 1 ? '' : 's'}), so vCPUs wait for ` +
        `each other; give the VM at most ${threads.length} vCPU${threads.length === 1 ? '' : 's'}`,
    );
  }
  if (new Set(chosen.map((c) => c.kind)).size > 1) {
    notes.push(`the VM gets P-cores and E-cores (${formatCpuList(vmCpus)}); with fewer vCPUs it would run on P-cores only`);
  }
  return { vcpuPins, vmCpus, housekeeping, guestTopology: guestTopology(chosen, vcpus, threads.length), notes };
}

/**
 * The fewest cores holding `vcpus` threads: within one package when one can, P-cores before E-cores,
 * and whole cores before those with a sibling offline; otherwise in CPU order.
 */
function chooseCores(free: HostCore[], vcpus: number): HostCore[] {
  const capacity = (cores: HostCore[]): number => cores.reduce((n, c) => n + c.cpus.length, 0);
  const packages = [...new Set(free.map((c) => c.package))];
  const fitting = packages.find((p) => capacity(free.filter((c) => c.package === p)) >= vcpus);
  const pool = fitting === undefined ? free : free.filter((c) => c.package === fitting);
  const rank = (c: HostCore): number => (c.kind === 'efficiency' ? 1000 : 0) - c.cpus.length;
  const ordered = [...pool].sort((a, b) => rank(a) - rank(b));
  const chosen: HostCore[] = [];
  for (const core of ordered) {
    if (capacity(chosen) >= vcpus) break;
    chosen.push(core);
  }
  return chosen;
}

/** What the guest is told: threads per core only when every vCPU pair really is one host core. */
function guestTopology(chosen: HostCore[], vcpus: number, threads: number): GuestTopology {
  const perCore = new Set(chosen.map((c) => c.cpus.length));
  const t = perCore.size === 1 ? [...perCore][0] : 1;
  const smt = t > 1 && vcpus % t === 0 && vcpus <= threads ? t : 1;
  const cores = vcpus / smt;
  const byPackage = new Map<number, number>();
  for (const core of chosen) byPackage.set(core.package, (byPackage.get(core.package) ?? 0) + 1);
  const counts = [...byPackage.values()];
  const even = counts.every((n) => n === counts[0]) && smt === t && vcpus === threads;
  const sockets = even && counts.length > 1 && cores % counts.length === 0 ? counts.length : 1;
  return { sockets, dies: 1, cores: cores / sockets, threads: smt };
}
