// The attach plan: back from the recorded host state to the host drivers, touching only what differs
// now (after a partial detach, only what was changed). Pure, like the detach plan.

import { EngineError } from './engine-error';
import type { FunctionNow } from './device-state';
import { VFIO_DRIVER } from '../host/pci-device';
import { kernelChooses, type FunctionHostState } from './host-state';
import type { StepSpec } from './step-spec';

/**
 * Steps per function: restore (usually clear) driver_override -> unbind from vfio-pci -> load the
 * recorded driver's module when its driver is not registered -> drivers_probe, verified (with a
 * bounded wait) to land on the recorded driver. A function another tool had left on vfio-pci or
 * unbound has no recorded driver: it goes to the one the kernel chooses, which the step names.
 *
 * Order: the GPU goes all the way back to its driver, the other functions (audio, USB, UCSI) leave
 * vfio-pci, then they are probed. The kernel links each of them to the GPU as its consumer
 * (quirk_gpu_hda/_usb/_usb_typec_ucsi: the GPU is their supplier for power management), and an HDMI
 * audio codec reads what the GPU's driver offers, so the GPU's driver binds before theirs.
 * Side by side (plan-waves.ts) their unbinds go along with the GPU's run, and their probes form the
 * next wave, so that they do not compete with the GPU's probe. The GPU's run comes first in its wave
 * because it is the longest (its driver's probe): at each turn of the event loop its next step
 * starts before the others'.
 */
export function planAttach(
  gpuAddress: string,
  recorded: readonly FunctionHostState[],
  current: readonly FunctionNow[],
  registeredDrivers: ReadonlySet<string>,
): StepSpec[] {
  const release: StepSpec[] = [];
  const gpu: StepSpec[] = [];
  const bind: StepSpec[] = [];
  const loading = new Set<string>();
  // The GPU's own steps are planned first, so a module both need is loaded before the GPU's probe.
  for (const want of [...recorded.filter((f) => f.address === gpuAddress), ...recorded.filter((f) => f.address !== gpuAddress)]) {
    const isGpu = want.address === gpuAddress;
    const now = current.find((d) => d.address === want.address);
    if (!now) {
      throw new EngineError(
        'NotFound',
        `attach of ${gpuAddress} refused before any change: its function ${want.address}, recorded at detach, ` +
          `is no longer in the IOMMU group; rescan the PCI bus (echo 1 > /sys/bus/pci/rescan) and retry`,
        { gpu: gpuAddress },
      );
    }
    const leave = isGpu ? gpu : release;
    const back = isGpu ? gpu : bind;
    if (now.driverOverride !== want.driverOverride) {
      leave.push({ kind: 'set-override', device: want.address, value: want.driverOverride, previous: now.driverOverride });
    }
    if (kernelChooses(want)) {
      // Another tool's leftover: off vfio-pci, then the kernel's own match decides (a host driver
      // that has it already keeps it).
      if (now.driver !== null && now.driver !== VFIO_DRIVER) continue;
      if (now.driver !== null) leave.push({ kind: 'unbind-driver', device: want.address, driver: now.driver, restoreOverride: now.driverOverride });
      back.push({ kind: 'probe-driver', device: want.address, expect: null, ...(want.leftover ? { leftover: want.leftover } : {}) });
      continue;
    }
    if (now.driver === want.driver) continue;
    if (now.driver !== null) {
      leave.push({ kind: 'unbind-driver', device: want.address, driver: now.driver, restoreOverride: now.driverOverride });
    }
    if (want.driver === null) continue;
    const module = want.driverModule;
    if (module !== null && !registeredDrivers.has(want.driver) && !loading.has(module)) {
      loading.add(module);
      back.push({ kind: 'load-module', module, driver: want.driver, keepLoaded: false });
    }
    back.push({ kind: 'probe-driver', device: want.address, expect: want.driver });
  }
  return [...gpu, ...release, ...bind];
}
