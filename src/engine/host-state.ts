// What a function looked like on the host before gpu-hookd moved it: the attach plan is built from
// it, and it is kept on disk (GpuRecordStore) so that a restarted daemon still knows.

import type { PciDevice } from '../host/pci-device';

export interface FunctionHostState {
  address: string;
  /** Host driver bound before detach, or null when the function was unbound (it stays unbound). */
  driver: string | null;
  /** Module providing that driver, or null when built in or unbound. */
  driverModule: string | null;
  driverOverride: string | null;
}

export function recordHostState(functions: readonly PciDevice[]): FunctionHostState[] {
  return functions.map((f) => ({
    address: f.address,
    driver: f.driver,
    driverModule: f.driverModule,
    driverOverride: f.driverOverride,
  }));
}
