// The readable form of `gpu-hookctl list`: a host summary, then one block per GPU with its IOMMU
// group members in aligned columns, and a verdict a person can act on.

import { VFIO_DRIVER, type PciDevice } from '../host/pci-device';
import type { PreflightFacts } from '../host/preflight';
import { describeViability } from '../host/viability';
import type { GpuListing, ListReport } from './list-report';

export function renderListTable(report: ListReport): string {
  const lines: string[] = [hostSummary(report.preflight)];
  for (const problem of report.problems) lines.push(`problem: ${problem}`);
  if (report.gpus.length === 0 && report.gpusWithoutGroup.length === 0) {
    lines.push('', 'No GPU found: no display-class (03xxxx) PCI device on this host.');
  }
  for (const gpu of report.gpus) lines.push('', ...gpuBlock(gpu));
  if (report.gpusWithoutGroup.length > 0) {
    lines.push('', 'GPUs in no IOMMU group (cannot be given to a VM until the IOMMU is on):');
    lines.push(...columns(report.gpusWithoutGroup.map((d) => ['  ' + d.address, ids(d), d.driver ?? '-', d.name])));
  }
  return lines.join('\n') + '\n';
}

function hostSummary(facts: PreflightFacts): string {
  const cmdline = [
    facts.iommuCmdline.intelIommuOn ? 'intel_iommu=on' : '',
    facts.iommuCmdline.amdIommu !== null ? `amd_iommu=${facts.iommuCmdline.amdIommu}` : '',
    facts.iommuCmdline.iommuPassthrough ? 'iommu=pt' : '',
  ].filter((a) => a);
  return [
    `IOMMU groups: ${facts.iommuGroupCount}${cmdline.length ? ` (${cmdline.join(' ')})` : ''}`,
    `vfio-pci: ${vfioPciState(facts.vfioPci)}`,
    `/dev/vfio/vfio: ${facts.devVfioPresent ? 'present' : 'absent'}`,
    `CPU virtualization: ${facts.cpuVirtualization ?? 'none'}`,
  ].join('  |  ');
}

function vfioPciState(v: PreflightFacts['vfioPci']): string {
  if (v.loaded) return 'loaded';
  if (v.builtIn) return 'built in';
  if (v.loadable === false) return 'missing';
  return 'not loaded (gpu-hookd loads it)';
}

const ROLE_TEXT: Record<GpuListing['members'][number]['role'], string> = {
  display: 'GPU',
  function: 'moves with GPU',
  shared: 'not the card',
  bridge: 'bridge, stays',
};

function gpuBlock(gpu: GpuListing): string[] {
  const title = `GPU ${gpu.address}  ${gpu.name}${gpu.bootVga ? '  [boot VGA]' : ''}`;
  const verdict = gpu.viability.viable
    ? `IOMMU group ${gpu.iommuGroup}: viable, the GPU can be given to a VM`
    : `IOMMU group ${gpu.iommuGroup}: NOT viable: ${describeViability(gpu.viability)}; ` +
      'give the VM that device too (a <hostdev> for it in the domain), or move the GPU to a slot with its own IOMMU group';
  const onVfio = gpu.members.filter((m) => m.role !== 'bridge' && m.driver === VFIO_DRIVER);
  const now = gpu.inUse
    ? 'now: in use, a process (a running VM) holds the group open'
    : gpu.readyNow.viable
      ? 'now: on vfio-pci (or unbound), ready for a VM'
      : onVfio.length > 0
        ? `now: partly on vfio-pci (${onVfio.map((m) => m.address).join(', ')}), partly on host drivers`
        : 'now: on host drivers';
  const left = gpu.members.filter((m) => m.leftover !== '');
  const leftovers = left.length === 0 ? [] : [
    `  not on a host driver of its own: ${left.map((m) => `${m.address} ${m.leftover}`).join(', ')}; given back, each goes to the driver the kernel chooses`,
  ];
  const resetOf = (address: string): string => {
    const r = gpu.resets.functions.find((f) => f.address === address);
    if (!r) return '-';
    if (r.methods.length > 0) return r.methods.join(',');
    return r.source === 'unknown' && r.resettable ? 'some (root sees which)' : 'none';
  };
  const rows = [
    ['  FUNCTION', 'ID', 'DRIVER', 'OVERRIDE', 'RESET', 'ROLE', 'NAME'],
    ...gpu.members.map((m) => ['  ' + m.address, ids(m), driverText(m), m.driverOverride ?? '-', resetOf(m.address), ROLE_TEXT[m.role], m.uses ? `${m.name} (${m.uses})` : m.name]),
  ];
  const reset: string[] = [];
  if (gpu.resets.slotResetBridge !== null) reset.push(`  reset: the card's bus can be reset through ${gpu.resets.slotResetBridge}`);
  if (gpu.resetRisk !== null) reset.push(`  reset: WARNING: ${gpu.resetRisk}`);
  return [title, `  ${verdict}`, `  ${now}`, ...leftovers, ...reset, ...columns(rows)];
}

function ids(d: PciDevice): string {
  return `${d.vendorId}:${d.deviceId}`;
}

function driverText(d: PciDevice): string {
  if (d.driver === null) return '-';
  return d.driverModule && d.driverModule !== d.driver.replace(/-/g, '_') ? `${d.driver} (${d.driverModule})` : d.driver;
}

/** Left-aligned columns two spaces apart; the last column is not padded. */
export function columns(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}
