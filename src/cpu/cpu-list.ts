// CPU lists as the kernel prints them ("0-3,8-11") and as libvirt reads them in a cpuset (the same,
// plus "^N" to take a CPU out again: "0-7,^3"). Lists come from domain XML and config, so they are
// bounded: no CPU number above MAX_CPU, which also stops "0-999999999" from building a huge array.

/** The kernel's NR_CPUS limit on x86_64 (CONFIG_NR_CPUS_RANGE_END). */
export const MAX_CPU = 8191;

export class CpuListError extends Error {
  constructor(readonly text: string, detail: string) {
    super(`${JSON.stringify(text)} is not a CPU list such as "0-3,8-11" (${detail})`);
    this.name = 'CpuListError';
  }
}

export interface ParseCpuListOptions {
  /** Accept libvirt's "^N" exclusions (a cpuset attribute); the kernel and our config do not use them. */
  exclusions?: boolean;
}

/** Sorted, distinct CPU numbers of a list; "" is the empty list. */
export function parseCpuList(text: string, options: ParseCpuListOptions = {}): number[] {
  const chosen = new Set<number>();
  const excluded = new Set<number>();
  const trimmed = text.trim();
  if (trimmed === '') return [];
  for (const raw of trimmed.split(',')) {
    const part = raw.trim();
    const exclude = part.startsWith('^');
    if (exclude && !options.exclusions) throw new CpuListError(text, `"${part}": "^" exclusions are only for libvirt cpusets`);
    const m = /^(\d+)(?:-(\d+))?$/.exec(exclude ? part.slice(1) : part);
    if (!m) throw new CpuListError(text, `"${part}" is neither a CPU number nor a range N-M`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last < first) throw new CpuListError(text, `the range "${part}" runs backwards`);
    if (last > MAX_CPU) throw new CpuListError(text, `CPU ${last} is above the kernel's limit of ${MAX_CPU}`);
    for (let cpu = first; cpu <= last; cpu++) (exclude ? excluded : chosen).add(cpu);
  }
  return [...chosen].filter((cpu) => !excluded.has(cpu)).sort((a, b) => a - b);
}

/** The kernel's form: ascending, consecutive CPUs as ranges ("0-3,8,10-11"); [] gives "". */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j === i ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** "CPU 3" or "CPUs 0,8": a list in a sentence. */
export function cpusPhrase(cpus: readonly number[]): string {
  return `${new Set(cpus).size === 1 ? 'CPU' : 'CPUs'} ${formatCpuList(cpus)}`;
}

export function sameCpus(a: readonly number[], b: readonly number[]): boolean {
  const x = [...new Set(a)].sort((p, q) => p - q);
  const y = [...new Set(b)].sort((p, q) => p - q);
  return x.length === y.length && x.every((cpu, i) => cpu === y[i]);
}

/** CPUs of `a` that are not in `b`, ascending. */
export function withoutCpus(a: readonly number[], b: readonly number[]): number[] {
  const drop = new Set(b);
  return [...new Set(a)].filter((cpu) => !drop.has(cpu)).sort((p, q) => p - q);
}

/** CPUs in both, ascending. */
export function commonCpus(a: readonly number[], b: readonly number[]): number[] {
  const keep = new Set(b);
  return [...new Set(a)].filter((cpu) => keep.has(cpu)).sort((p, q) => p - q);
}
