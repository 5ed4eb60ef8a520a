// The facts the doctor's host checks need, read once through HostIO (read-only).

import type { HostIO } from '../host/host-io';
import { discoverGpus } from '../host/gpu-inventory';
import { listPciAddresses } from '../host/pci-discovery';
import { readPreflightFacts } from '../host/preflight';
import { readGpuResets } from '../host/gpu-resets';
import { CpuTopologyError, readCpuTopology, type CpuTopology } from '../cpu/cpu-topology';
import type { HostFacts } from './host-checks';

export function readHostFacts(io: HostIO): HostFacts & { pciAddresses: string[]; cpuTopology: CpuTopology | null } {
  const inventory = discoverGpus(io);
  return {
    preflight: readPreflightFacts(io),
    kvmDevice: io.exists('dev/kvm'),
    gpus: inventory.gpus,
    gpusWithoutGroup: inventory.gpusWithoutGroup,
    gpuResets: Object.fromEntries(inventory.gpus.map((gpu) => [gpu.address, readGpuResets(io, gpu)])),
    cpuTopology: readTopology(io),
    pciAddresses: listPciAddresses(io),
  };
}

function readTopology(io: HostIO): CpuTopology | null {
  try {
    return readCpuTopology(io);
  } catch (e) {
    if (e instanceof CpuTopologyError) return null;
    throw e;
  }
}
