// The attach plan: back from the recorded host state to the host drivers, touching only what differs
// now (after a partial detach, only what was changed). Pure, like the detach plan.

import { EngineError } from './engine-error';
import type { FunctionNow } from './device-state';
import type { FunctionHostState } from './host-state';
import type { StepSpec } from './step-spec';

/**
 * Steps per function: restore (usually clear) driver_override -> unbind from vfio-pci -> load the
 * recorded driver's module when its driver is not registered -> drivers_probe, verified (with a
 * bounded wait) to land on the recorded driver. A function recorded unbound stays unbound.
 */
export function planAttach(
  gpuAddress: string,
  recorded: readonly FunctionHostState[],
  current: readonly FunctionNow[],
  registeredDrivers: ReadonlySet<string>,
): StepSpec[] {
  const steps: StepSpec[] = [];
  const loading = new Set<string>();
  for (const want of recorded) {
    const now = current.find((d) => d.address === want.address);
    if (!now) {
      throw new EngineError(
        'NotFound',
        `attach of ${gpuAddress} refused before any change: its function ${want.address}, recorded at detach, ` +
          `is no longer in the IOMMU group; rescan the PCI bus (echo 1 > /sys/bus/pci/rescan) and retry`,
        { gpu: gpuAddress },
      );
    }
    if (now.driverOverride !== want.driverOverride) {
      steps.push({ kind: 'set-override', device: want.address, value: want.driverOverride, previous: now.driverOverride });
    }
    if (now.driver === want.driver) continue;
    if (now.driver !== null) {
      steps.push({ kind: 'unbind-driver', device: want.address, driver: now.driver, restoreOverride: now.driverOverride });
    }
    if (want.driver === null) continue;
    const module = want.driverModule;
    if (module !== null && !registeredDrivers.has(want.driver) && !loading.has(module)) {
      loading.add(module);
      steps.push({ kind: 'load-module', module, driver: want.driver, keepLoaded: false });
    }
    steps.push({ kind: 'probe-driver', device: want.address, expect: want.driver });
  }
  return steps;
}
