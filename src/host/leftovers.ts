// Functions another tool left off their host drivers: on vfio-pci (a driver_override, vfio-pci
// ids= at boot, a new_id), unbound, or with a driver_override of vfio-pci that the next probe obeys.
// gpu-hookd shows them as such, never records vfio-pci as a host driver, and gives them back to
// the driver the kernel chooses (engine/attach-plan.ts).

import { VFIO_DRIVER, type PciDevice } from './pci-device';

export type FunctionBinding = Pick<PciDevice, 'driver' | 'driverOverride'>;

/** True when the function is not on a host driver of its own choosing, or the next probe would not give it one. */
export function isLeftover(f: FunctionBinding): boolean {
  return f.driver === null || f.driver === VFIO_DRIVER || f.driverOverride === VFIO_DRIVER;
}

/** How the function stands, for list, status and the log: "on vfio-pci by driver_override", ... */
export function describeBinding(f: FunctionBinding): string {
  const override = f.driverOverride === null ? '' : `, driver_override ${f.driverOverride}`;
  if (f.driver === VFIO_DRIVER) {
    return f.driverOverride === VFIO_DRIVER ? `on ${VFIO_DRIVER} by driver_override` : `on ${VFIO_DRIVER} by its ids (vfio-pci ids= or new_id)${override}`;
  }
  if (f.driver === null) return `unbound${override}`;
  return `on ${f.driver}${override}`;
}
