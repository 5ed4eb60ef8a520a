// What resets a GPU's card has, as one plain value for `list`, the D-Bus Gpu object, the doctor,
// prepare's reset policy and the give-back's retries: each function's methods, whether the card's
// bus can be reset as a whole, and whether the card is one the kernel is known not to reset alone.

import type { HostIO } from './host-io';
import type { Gpu } from './pci-device';
import { functionsOnBus, hasUsableReset, readFunctionResets, slotResetBridge, workingMethods, type FunctionResets } from './pci-reset';
import { VENDOR_RESET_FIX, vendorResetCard } from './vendor-reset-cards';

export interface GpuResets {
  /** Each function that moves with the GPU (display first): how the kernel can reset it. */
  functions: FunctionResets[];
  /** The bridge whose reset_subordinate resets the GPU's bus, when every function on that bus moves
   *  with the GPU (a bus reset then touches nothing else); null otherwise. */
  slotResetBridge: string | null;
  /** The display function's methods that can reset it now (a listed bus reset only while it is alone on its bus). */
  displayWorking: string[];
  /** The display function can be reset by itself (a listed bus reset counts only while it is alone on
   *  its bus), or through its bridge. */
  usable: boolean;
  /** vendor-reset's name for the card's family when the kernel alone is known not to reset it. */
  vendorResetFamily: string | null;
  /** vendor-reset is in place: the display function's methods include device_specific. */
  vendorResetActive: boolean;
}

export function readGpuResets(io: HostIO, gpu: Gpu): GpuResets {
  const functions = gpu.functions.map((f) => readFunctionResets(io, f.address));
  const display = functions[0];
  const bridge = slotResetBridge(io, gpu.address);
  const ours = new Set(gpu.functions.map((f) => f.address));
  const wholeBusOurs = functionsOnBus(io, gpu.address).every((a) => ours.has(a));
  const slotResetBridgeOk = bridge !== null && wholeBusOurs ? bridge : null;
  const device = gpu.functions[0];
  const working = display ? workingMethods(io, display) : [];
  return {
    functions,
    slotResetBridge: slotResetBridgeOk,
    displayWorking: working,
    usable: (display !== undefined && hasUsableReset({ ...display, methods: working })) || slotResetBridgeOk !== null,
    vendorResetFamily: device ? (vendorResetCard(device.vendorId, device.deviceId)?.family ?? null) : null,
    vendorResetActive: display?.methods.includes('device_specific') ?? false,
  };
}

export interface ResetRisk {
  /** What is wrong, one sentence part naming the GPU. */
  problem: string;
  /** What to do about it. */
  fix: string;
}

/**
 * Why the GPU is known to come back broken after a VM, with the fix, or null when nothing says so:
 * a card vendor-reset exists for without it in place, or a GPU the kernel cannot reset at all.
 */
export function resetRisk(gpuAddress: string, r: GpuResets): ResetRisk | null {
  if (r.vendorResetFamily !== null && !r.vendorResetActive) {
    return {
      problem: `${gpuAddress} is an AMD ${r.vendorResetFamily} card, which the kernel cannot reset by itself after a VM used it (it comes back hung or black)`,
      fix: VENDOR_RESET_FIX,
    };
  }
  if (!r.usable) {
    return {
      problem: `${gpuAddress} has no reset the kernel can use (no reset method, and its bus cannot be reset alone), so a VM can leave it in a state its host driver cannot take back`,
      fix: `keep it on vfio-pci between VMs ("gpu-hookctl detach ${gpuAddress}" once; VMs then take it and leave it there), or move the card to a slot of its own`,
    };
  }
  return null;
}

/** "<problem>: <fix>", as list and prepare's journal line say it. */
export function describeResetRisk(risk: ResetRisk): string {
  return `${risk.problem}: ${risk.fix}`;
}
