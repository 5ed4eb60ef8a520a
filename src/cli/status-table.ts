// The readable form of `gpu-hookctl status`: the daemon's status line, then one row per GPU with
// where it is (mode, owner, drivers now) and the last error.

import type { GpuStatus } from './daemon-client';
import { columns } from './list-table';

export interface DaemonStatus {
  version: string;
  status: string;
  gpus: GpuStatus[];
}

export function renderStatusTable(s: DaemonStatus): string {
  const lines = [`gpu-hookd ${s.version}: ${s.status}`];
  if (s.gpus.length === 0) return [...lines, 'No GPU with an IOMMU group on this host (gpu-hookctl list shows why).'].join('\n') + '\n';
  const rows = [
    ['ADDRESS', 'NAME', 'MODE', 'OWNER', 'DRIVERS', 'LAST ERROR'],
    ...s.gpus.map((g) => [g.address, g.name, g.mode, g.owner || '-', driversText(g), g.lastError || '-']),
  ];
  const left = s.gpus.flatMap((g) => Object.entries(g.leftovers ?? {}).map(([f, how]) => `${f} (of ${g.address}): ${how}`));
  const notes = left.length > 0 ? ['', 'Not on a host driver of their own (given back, each goes to the driver the kernel chooses):', ...left.map((l) => `  ${l}`)] : [];
  return [...lines, '', ...columns(rows), ...notes].join('\n') + '\n';
}

/** The functions' drivers in function order; "4x vfio-pci" when they all share one. */
export function driversText(g: Pick<GpuStatus, 'functions' | 'drivers'>): string {
  const drivers = g.functions.map((f) => g.drivers[f] || '(none)');
  if (drivers.length > 1 && drivers.every((d) => d === drivers[0])) return `${drivers.length}x ${drivers[0]}`;
  return drivers.join(', ') || '-';
}
