// What a function looked like on the host before gpu-hookd moved it: the attach plan is built from
// it, and it is kept on disk (GpuRecordStore) so that a restarted daemon still knows.

import { isLeftover } from '../host/leftovers';
import { VFIO_DRIVER, type PciDevice } from '../host/pci-device';

export interface FunctionHostState {
  address: string;
  /** Host driver bound before detach; null: none to go back to (see `leftover`). */
  driver: string | null;
  /** Module providing that driver, or null when built in or unbound. */
  driverModule: string | null;
  driverOverride: string | null;
  /**
   * Set when another tool had left the function off its host driver (on vfio-pci, unbound, or with
   * a driver_override of vfio-pci): how it was found. vfio-pci is never recorded as a host driver,
   * nor its override: give-back clears the override and lets the kernel choose (attach-plan.ts).
   */
  leftover?: { driver: string | null; driverOverride: string | null };
}

export function recordHostState(functions: readonly PciDevice[]): FunctionHostState[] {
  return functions.map((f) => {
    if (!isLeftover(f)) return { address: f.address, driver: f.driver, driverModule: f.driverModule, driverOverride: f.driverOverride };
    // Still on a host driver with an override of vfio-pci left set: that driver is its host driver.
    const onHost = f.driver !== null && f.driver !== VFIO_DRIVER;
    return {
      address: f.address,
      driver: onHost ? f.driver : null,
      driverModule: onHost ? f.driverModule : null,
      driverOverride: null,
      leftover: { driver: f.driver, driverOverride: f.driverOverride },
    };
  });
}

/** Give-back of this function goes to the driver the kernel chooses, not to a recorded one. */
export function kernelChooses(f: FunctionHostState): boolean {
  return f.leftover !== undefined && f.driver === null;
}
