// The detach plan: every endpoint function of the GPU's IOMMU group to vfio-pci. A pure function of
// discovery's plain data, so its order and its idempotence are tested without a host.

import type { Gpu, Viability } from '../host/pci-device';
import { VFIO_DRIVER } from '../host/pci-device';
import { EngineError } from './engine-error';
import type { StepSpec } from './step-spec';

export const VFIO_MODULE = 'vfio_pci';

export interface DetachFacts {
  /** The vfio-pci driver is registered (loaded or built in). */
  vfioPciLoaded: boolean;
  /** Whether the group can be given to a VM once every function of `gpu.functions` is on vfio-pci. */
  viability: Viability;
  /** A detach by hand (no domain that could name the other device as its own hostdev too). */
  byHand?: boolean;
}

/**
 * Steps per function of `gpu.functions` (the move's targets, viability.ts): set driver_override ->
 * unbind from the host driver -> drivers_probe (verified to land on vfio-pci); then wait for
 * /dev/vfio/<group>. Functions already on vfio-pci are left alone; unbound ones are only overridden
 * and probed. Empty when there is nothing to do.
 */
export function planDetach(gpu: Gpu, facts: DetachFacts): StepSpec[] {
  if (!facts.viability.viable) {
    throw new EngineError(
      'NotViable',
      `detach of ${gpu.address} refused before any change: ${facts.viability.culprit} ${facts.viability.reason}, ` +
        `so the IOMMU group cannot be given to a VM; ${facts.byHand ? refusedByHandAdvice(facts.viability.culprit) : vmAdvice(facts.viability.culprit)}`,
      { gpu: gpu.address },
    );
  }
  const group = gpu.group.id;
  if (group === null) {
    throw new EngineError(
      'NotViable',
      `detach of ${gpu.address} refused before any change: the kernel made no IOMMU groups; ` +
        `enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on or amd_iommu=on`,
      { gpu: gpu.address },
    );
  }
  const moving = gpu.functions.filter((f) => f.driver !== VFIO_DRIVER);
  if (moving.length === 0) return [];

  const steps: StepSpec[] = [];
  if (!facts.vfioPciLoaded) {
    steps.push({ kind: 'load-module', module: VFIO_MODULE, driver: VFIO_DRIVER, keepLoaded: true });
  }
  for (const f of moving) {
    if (f.driverOverride !== VFIO_DRIVER) {
      steps.push({ kind: 'set-override', device: f.address, value: VFIO_DRIVER, previous: f.driverOverride });
    }
    if (f.driver !== null) {
      steps.push({ kind: 'unbind-driver', device: f.address, driver: f.driver, restoreOverride: f.driverOverride });
    }
    steps.push({ kind: 'probe-driver', device: f.address, expect: VFIO_DRIVER });
  }
  steps.push({ kind: 'wait-vfio-group', group });
  return steps;
}

/** What a VM's owner can do: the domain that names the other device too takes it with the group. */
function vmAdvice(culprit: string): string {
  return `give the VM that device too (virsh edit: a <hostdev mode='subsystem' type='pci'> for ${culprit}), or move the card to a slot whose IOMMU group holds only the card`;
}

/** A detach by hand never takes another device from the host: only a domain that names it does. */
function refusedByHandAdvice(culprit: string): string {
  return (
    `a detach by hand never takes another device from the host: start a VM whose domain names ${culprit} as a <hostdev> too ` +
    `(gpu-hookd then moves the whole group for it), or move the card to a slot whose IOMMU group holds only the card`
  );
}
