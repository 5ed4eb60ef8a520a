// The single-GPU handover as plain data: the steps around the group detach when the GPU to detach is
// the one the host draws its desktop on, and, from what was done, the steps that give the desktop
// back. Pure functions of facts read beforehand (handover-facts.ts), so the order is tested alone.
//
// Detach: stop the display manager (and nvidia's daemons) -> end graphical sessions (opt-in) ->
// check that no process still holds the GPU (these four only when the desktop uses this GPU) ->
// unbind fbcon's vtconsole (when it draws on this GPU) -> unbind the firmware
// framebuffer -> unload the modules stacked on the GPU driver (opt-in) -> the group detach -> unload
// the GPU driver's own module (opt-in). The driver's module goes last because only once the group
// is on vfio-pci is "no other device uses it" a fact; the modules stacked on it (nvidia_drm,
// nvidia_modeset, nvidia_uvm) go first because while they are loaded, unbinding nvidia blocks.
//
// Release, after the group attach (which loads the driver's module itself when it binds the GPU):
// load the stacked modules, bind the firmware framebuffer if the kernel kept it, bind fbcon's
// vtconsole (looked up by name again), start nvidia's daemons and the display manager.

import type { UnitStatus } from '../host/systemd-manager';
import type { StepSpec } from './step-spec';

export type HoldersPolicy = 'refuse' | 'terminate';

/** The per-VM settings the handover follows (a subset of the daemon's VmSettings). */
export interface HandoverSettings {
  displayManagerUnit: string;
  endSessions: boolean;
  unloadModules: boolean;
  holders: HoldersPolicy;
}

/** Services that keep nvidia GPUs open; stopped (and started again) when present and running. */
export const NVIDIA_GPU_SERVICES: readonly string[] = ['nvidia-persistenced.service', 'nvidia-powerd.service'];

/** Vendor driver stacks by the GPU driver's module, in unload order (the driver's own module last). */
export const VENDOR_MODULE_STACKS: Readonly<Record<string, readonly string[]>> = {
  nvidia: ['nvidia_drm', 'nvidia_modeset', 'nvidia_uvm', 'nvidia'],
  nouveau: ['nouveau'],
  amdgpu: ['amdgpu'],
};

export interface HandoverFacts {
  /** The GPU's display function. */
  gpu: string;
  /** Every function of its IOMMU group that moves to vfio-pci. */
  functions: string[];
  /** Why the host's desktop depends on this GPU ("Xorg (PID 845)", "boot VGA, the only GPU on a host
   *  driver"): the display manager stops. Empty: it does not (another GPU's desktop is left alone). */
  displayUse: string[];
  /** The console on this GPU ("fbcon on fb1 (nouveaudrmfb)"): it is handed to the dummy console. */
  consoleUse: string[];
  /** Why the kernel could not say which framebuffer fbcon draws on (then any of this GPU's counts); null: it said. */
  consoleUnknown: string | null;
  /** The logind seat the GPU belongs to. */
  seat: string;
  /** The configured display manager unit as systemd knows it; null when only a GPU without display use is moved. */
  displayManager: UnitStatus | null;
  /** NVIDIA_GPU_SERVICES as systemd knows them (the GPU is on nvidia); [] otherwise. */
  gpuServices: UnitStatus[];
  /** The GPU runs the proprietary nvidia driver: /dev/nvidia* count as its nodes. */
  nvidia: boolean;
  /** fbcon's vtconsole when it is bound and draws on a framebuffer of this GPU (or its firmware framebuffer). */
  fbconConsole: string | null;
  /** Firmware framebuffer platform devices bound to their driver (only for the boot VGA, whose aperture they draw through). */
  firmwareFramebuffers: { device: string; driver: string }[];
  /** The vendor stack's loaded modules, in unload order; [] when the driver has no known stack. */
  vendorModules: string[];
  /** The GPU driver's own module (the last of the stack), when loaded. */
  driverModule: string | null;
  /** Devices outside the group bound to the driver's module: then the stack stays. */
  otherDriverUsers: string[];
}

export interface HandoverPlan {
  /** Steps before the group detach. */
  before: StepSpec[];
  /** Steps after the group detach. */
  after: StepSpec[];
  /** Decisions worth logging ("nouveau stays loaded: 0000:02:00.0 uses it too"). */
  notes: string[];
}

const RUNNING_STATES = ['active', 'activating', 'reloading'];

function isRunning(unit: UnitStatus | null): boolean {
  return unit !== null && unit.loadState === 'loaded' && RUNNING_STATES.includes(unit.activeState);
}

export function planHandover(facts: HandoverFacts, settings: HandoverSettings): HandoverPlan {
  const before: StepSpec[] = [];
  const after: StepSpec[] = [];
  const notes: string[] = [];
  const drivesDisplay = facts.displayUse.length > 0;

  if (drivesDisplay) {
    const dm = facts.displayManager;
    if (isRunning(dm)) before.push({ kind: 'stop-unit', unit: settings.displayManagerUnit });
    else notes.push(`${settings.displayManagerUnit} is ${dm?.loadState === 'loaded' ? dm.activeState : 'not installed'}: no display manager to stop`);
    for (const service of facts.gpuServices.filter(isRunning)) before.push({ kind: 'stop-unit', unit: service.id });
    if (settings.endSessions) before.push({ kind: 'end-sessions', seat: facts.seat });
    before.push({ kind: 'check-holders', devices: facts.functions, nvidia: facts.nvidia, policy: settings.holders, seat: facts.seat });
  } else if (facts.consoleUse.length > 0) {
    notes.push(`${facts.consoleUse.join(', ')} but no process draws on ${facts.gpu}: the display manager keeps running, only the console moves`);
  }
  // The console and the firmware framebuffer sit on this GPU whatever the desktop does.
  if (facts.fbconConsole !== null) before.push({ kind: 'unbind-vtconsole', name: facts.fbconConsole });
  if (facts.consoleUnknown !== null && facts.fbconConsole !== null) {
    notes.push(`the kernel could not say which framebuffer fbcon draws on (${facts.consoleUnknown}), so fbcon is unbound as if on ${facts.gpu}`);
  }
  for (const fb of facts.firmwareFramebuffers) before.push({ kind: 'unbind-firmware-fb', framebuffer: fb.device, driver: fb.driver, gpu: facts.gpu });

  if (settings.unloadModules && facts.vendorModules.length > 0) {
    if (facts.otherDriverUsers.length > 0) {
      notes.push(`${facts.vendorModules.join(', ')} stay loaded: ${facts.otherDriverUsers.join(', ')} use${facts.otherDriverUsers.length === 1 ? 's' : ''} the driver too`);
    } else {
      const stacked = facts.vendorModules.filter((m) => m !== facts.driverModule);
      if (stacked.length > 0) before.push({ kind: 'unload-modules', modules: stacked });
      if (facts.driverModule !== null) after.push({ kind: 'unload-modules', modules: [facts.driverModule] });
    }
  }
  return { before, after, notes };
}

/**
 * What gives the host back what a handover took, in reverse order; runs after the group attach.
 * Ending sessions and checking holders change nothing to give back (the display manager's start
 * brings the login screen back).
 */
export function planHandoverRelease(handover: readonly StepSpec[]): StepSpec[] {
  const steps: StepSpec[] = [];
  for (const s of [...handover].reverse()) {
    switch (s.kind) {
      case 'stop-unit':
        steps.push({ kind: 'start-unit', unit: s.unit });
        break;
      case 'unbind-vtconsole':
        steps.push({ kind: 'bind-vtconsole', name: s.name });
        break;
      case 'unbind-firmware-fb':
        steps.push({ kind: 'bind-firmware-fb', framebuffer: s.framebuffer, driver: s.driver, gpu: s.gpu });
        break;
      case 'unload-modules':
        steps.push({ kind: 'load-modules', modules: s.modules });
        break;
      default:
        break;
    }
  }
  return steps;
}
