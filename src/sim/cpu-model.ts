// The CPUs as sysfs and procfs show them: numbering of threads and cores per the scenario's
// topology (x86 firmware usually numbers all first threads, then all second threads: "spread"),
// hotplug through cpuN/online (cpu0 has no online file), cpufreq governors, /proc/cpuinfo.

import { KernelContext, KernelError } from './kernel-context';
import { CpuSpec } from './scenario';
import { totalCpus } from './scenario-parse';
import { cpuDir, formatCpuList } from './sysfs-layout';
import { Tree } from './tree';

export interface CpuPlace {
  cpu: number;
  /** Global core index (unique across packages). */
  core: number;
  coreId: number;
  pkg: number;
  kind: 'core' | 'atom' | null;
}

export function cpuLayout(spec: CpuSpec): CpuPlace[] {
  const places: CpuPlace[] = [];
  if (spec.hybrid) {
    const perPkg = spec.hybrid.performanceCores * 2 + spec.hybrid.efficiencyCores;
    for (let pkg = 0; pkg < spec.sockets; pkg++) {
      let cpu = pkg * perPkg;
      const coresPerPkg = spec.hybrid.performanceCores + spec.hybrid.efficiencyCores;
      for (let c = 0; c < coresPerPkg; c++) {
        const isP = c < spec.hybrid.performanceCores;
        for (let t = 0; t < (isP ? 2 : 1); t++) {
          places.push({ cpu: cpu++, core: pkg * coresPerPkg + c, coreId: c, pkg, kind: isP ? 'core' : 'atom' });
        }
      }
    }
    return places;
  }
  const cores = spec.sockets * spec.coresPerSocket;
  for (let core = 0; core < cores; core++) {
    for (let t = 0; t < spec.threadsPerCore; t++) {
      const cpu = spec.siblings === 'spread' ? t * cores + core : core * spec.threadsPerCore + t;
      places.push({ cpu, core, coreId: core % spec.coresPerSocket, pkg: Math.floor(core / spec.coresPerSocket), kind: null });
    }
  }
  return places.sort((a, b) => a.cpu - b.cpu);
}

/** Writes every CPU file; `offline` are the CPUs that are offline now. */
export function writeCpus(tree: Tree, spec: CpuSpec, offline: number[]): void {
  const layout = cpuLayout(spec);
  const all = layout.map((p) => p.cpu);
  const online = all.filter((c) => !offline.includes(c));
  const base = 'sys/devices/system/cpu';
  tree.file(`${base}/possible`, `${formatCpuList(all)}\n`);
  tree.file(`${base}/present`, `${formatCpuList(all)}\n`);
  tree.file(`${base}/online`, `${formatCpuList(online)}\n`);
  tree.file(`${base}/offline`, `${formatCpuList(offline)}\n`);
  for (const p of layout) {
    const dir = cpuDir(p.cpu);
    if (p.cpu !== 0) tree.file(`${dir}/online`, offline.includes(p.cpu) ? '0\n' : '1\n');
    // The kernel removes a CPU's topology directory while it is offline.
    if (offline.includes(p.cpu)) tree.remove(`${dir}/topology`);
    else writeTopology(tree, layout, p);
    tree.file(`${dir}/cpufreq/scaling_available_governors`, `${spec.governors.join(' ')}\n`);
    tree.file(`${dir}/cpufreq/scaling_driver`, `${spec.vendor === 'intel' ? 'intel_pstate' : 'acpi-cpufreq'}\n`);
    if (!tree.exists(`${dir}/cpufreq/scaling_governor`)) tree.file(`${dir}/cpufreq/scaling_governor`, `${spec.governor}\n`);
  }
  if (spec.hybrid) {
    tree.file('sys/devices/cpu_core/cpus', `${formatCpuList(layout.filter((p) => p.kind === 'core').map((p) => p.cpu))}\n`);
    tree.file('sys/devices/cpu_atom/cpus', `${formatCpuList(layout.filter((p) => p.kind === 'atom').map((p) => p.cpu))}\n`);
  }
  tree.file('proc/cpuinfo', cpuinfo(spec, layout, online));
}

function writeTopology(tree: Tree, layout: CpuPlace[], p: CpuPlace): void {
  const dir = `${cpuDir(p.cpu)}/topology`;
  const siblings = formatCpuList(layout.filter((o) => o.core === p.core).map((o) => o.cpu));
  const pkgCpus = formatCpuList(layout.filter((o) => o.pkg === p.pkg).map((o) => o.cpu));
  tree.file(`${dir}/core_id`, `${p.coreId}\n`);
  tree.file(`${dir}/physical_package_id`, `${p.pkg}\n`);
  tree.file(`${dir}/die_id`, '0\n');
  tree.file(`${dir}/thread_siblings_list`, `${siblings}\n`);
  tree.file(`${dir}/core_cpus_list`, `${siblings}\n`);
  tree.file(`${dir}/core_siblings_list`, `${pkgCpus}\n`);
  tree.file(`${dir}/package_cpus_list`, `${pkgCpus}\n`);
}

function cpuinfo(spec: CpuSpec, layout: CpuPlace[], online: number[]): string {
  const flags = `fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm constant_tsc ${spec.vendor === 'intel' ? 'vmx' : 'svm'} sse4_1 sse4_2 x2apic popcnt aes xsave avx avx2`;
  return layout
    .filter((p) => online.includes(p.cpu))
    .map((p) => {
      const siblings = layout.filter((o) => o.pkg === p.pkg).length;
      const cores = new Set(layout.filter((o) => o.pkg === p.pkg).map((o) => o.core)).size;
      return [
        `processor\t: ${p.cpu}`,
        `vendor_id\t: ${spec.vendor === 'intel' ? 'GenuineIntel' : 'AuthenticAMD'}`,
        `model name\t: ${spec.model}`,
        `physical id\t: ${p.pkg}`,
        `siblings\t: ${siblings}`,
        `core id\t\t: ${p.coreId}`,
        `cpu cores\t: ${cores}`,
        `flags\t\t: ${flags}`,
        '',
        '',
      ].join('\n');
    })
    .join('');
}

export function writeCpuOnline(k: KernelContext, cpu: number, value: string): void {
  const total = totalCpus(k.scenario.cpu);
  if (cpu === 0 || cpu >= total) throw new KernelError('ENOENT', `cpu${cpu} has no online file`);
  const v = value.trim();
  if (v !== '0' && v !== '1') throw new KernelError('EINVAL', `cpu online takes 0 or 1, got ${JSON.stringify(v)}`);
  const offline = new Set(k.state.offlineCpus);
  if (v === '0') offline.add(cpu);
  else offline.delete(cpu);
  if (offline.size >= total) throw new KernelError('EBUSY', 'the last online cpu cannot go offline');
  k.state.offlineCpus = [...offline].sort((a, b) => a - b);
  writeCpus(k.tree, k.scenario.cpu, k.state.offlineCpus);
}
