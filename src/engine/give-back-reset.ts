// The give-back's second chance, as plain decisions: which attach failures a reset may cure (a host
// driver that did not bind, or bound without its DRM device, with the host restored to vfio-pci's
// hands), which reset to try next, and the sentence when every try failed.

import type { FunctionResets } from '../host/pci-reset';
import { hasUsableReset } from '../host/pci-reset';
import { VFIO_DRIVER } from '../host/pci-device';
import { VENDOR_RESET_FIX } from '../host/vendor-reset-cards';
import type { StepOf } from './step-spec';
import { DriverDidNotTakeError } from './steps/probe-driver';

/** The function a reset may bring back: a host driver's probe of it was written but the driver did
 *  not take it, and the rollback put every function back where it was (on vfio-pci). A refused write
 *  is another matter (the kernel said why): undefined then, as for every other failure. */
export function functionToReset(cause: unknown, restored: boolean): { device: string; driver: string } | undefined {
  if (!restored || !(cause instanceof DriverDidNotTakeError) || cause.driver === VFIO_DRIVER) return undefined;
  return { device: cause.device, driver: cause.driver };
}

export interface ResetFacts {
  resets: FunctionResets;
  /** The bridge above the function with reset_subordinate, or null. */
  bridge: string | null;
  /** Every function on the function's bus. */
  busFunctions: readonly string[];
  /** The functions that move with the GPU: a bus reset may touch only these. */
  ours: readonly string[];
}

/** The resets that may bring `device` back, in the order to try them: its own, then its bus's. */
export function resetCandidates(device: string, facts: ResetFacts): StepOf<'reset-function'>[] {
  const candidates: StepOf<'reset-function'>[] = [];
  if (hasUsableReset(facts.resets)) candidates.push({ kind: 'reset-function', device, bridge: null, devices: [device], methods: facts.resets.methods });
  const ours = new Set(facts.ours);
  if (facts.bridge !== null && facts.busFunctions.every((a) => ours.has(a))) {
    candidates.push({ kind: 'reset-function', device, bridge: facts.bridge, devices: [...facts.busFunctions], methods: [] });
  }
  return candidates;
}

/** The reset for try number `attempt` (0-based): each candidate once, then the last one again. */
export function resetForAttempt(candidates: readonly StepOf<'reset-function'>[], attempt: number): StepOf<'reset-function'> | undefined {
  return candidates.length === 0 ? undefined : candidates[Math.min(attempt, candidates.length - 1)];
}

export interface GiveBackOutcome {
  gpu: string;
  device: string;
  driver: string;
  /** Each reset tried, as its step describes it. */
  tried: readonly string[];
  /** Why the last probe failed, one sentence part. */
  lastCause: string;
  /** No reset could be tried: the function has none and its bus is shared or cannot be reset. */
  noReset: boolean;
  /** The card is one vendor-reset exists for, without it in place. */
  needsVendorReset: boolean;
}

/** The one sentence when the GPU did not come back: which function, which driver, what was tried, what to do. */
export function giveBackFailure(o: GiveBackOutcome): string {
  const tried = o.noReset
    ? 'no reset could be tried (it has no reset method and its bus is shared or cannot be reset alone)'
    : `${o.tried.length === 1 ? 'one reset was' : `${o.tried.length} resets were`} tried (${o.tried.join('; ')})`;
  const vendor = o.needsVendorReset ? `${VENDOR_RESET_FIX}, then ` : '';
  return (
    `attach of ${o.gpu} failed: ${o.device} did not come back to ${o.driver} (${o.lastCause}) and ${tried}; ` +
    `it stays on ${VFIO_DRIVER}, and the host's other GPUs are untouched: ${vendor}suspend the host once ` +
    `(systemctl suspend, then wake it) or reboot to power-cycle the card, then run gpu-hookctl attach ${o.gpu}`
  );
}
