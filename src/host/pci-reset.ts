// How the kernel can reset a PCI function, read without changing anything. Kernels from 5.15 list
// the methods in reset_method (the file is absent when there is none); older ones show only a reset
// file, so the methods are read from config space's capabilities (past byte 64: root only).

import type { HostIO } from './host-io';
import { kernelRelease } from './modules';
import { isPciAddress } from './pci-address';

/** The kernel's names and order (pci_reset_fn_methods); reset_method lists a subset of these. */
export const KERNEL_RESET_METHODS = ['device_specific', 'acpi', 'flr', 'af_flr', 'pm', 'bus', 'cxl_bus'] as const;

export interface FunctionResets {
  address: string;
  /** Methods the kernel tries in order ("flr", "pm", "bus"...); [] when there is none or they are unknown. */
  methods: string[];
  /** kernel: reset_method said so (5.15+); config-space: read from the capabilities (older kernels);
   *  unknown: an older kernel whose config space past byte 64 this user may not read (run as root). */
  source: 'kernel' | 'config-space' | 'unknown';
  /** The kernel offers to reset the function: its reset file exists (any method at all). */
  resettable: boolean;
}

const DEVICES = 'sys/bus/pci/devices';

export function readFunctionResets(io: HostIO, address: string): FunctionResets {
  const dir = `${DEVICES}/${address}`;
  const resettable = io.exists(`${dir}/reset`);
  const listed = io.readText(`${dir}/reset_method`);
  if (listed !== undefined) return { address, methods: listed.split(/\s+/).filter((m) => m !== ''), source: 'kernel', resettable };
  if (kernelHasResetMethod(io)) return { address, methods: [], source: 'kernel', resettable };
  const config = io.readBytes(`${dir}/config`, 0, CONFIG_BYTES);
  if (!config || config.length < CONFIG_BYTES) return { address, methods: [], source: 'unknown', resettable };
  const methods = methodsFromCapabilities(config);
  // A bridge's own bus reset would reset what is below it: the kernel offers none (dev->subordinate).
  const bridge = (config[0x0e] & 0x7f) !== 0;
  if (!bridge && busResetPossible(io, address)) methods.push('bus');
  return { address, methods, source: 'config-space', resettable };
}

/** A function can be reset when the kernel lists a method, or offers its reset file without saying which. */
export function hasUsableReset(r: FunctionResets): boolean {
  return r.methods.length > 0 || (r.source === 'unknown' && r.resettable);
}

/** "flr, pm", "none" or "unknown (run as root to read config space)": how list, doctor and errors say it. */
export function describeResets(r: FunctionResets): string {
  if (r.methods.length > 0) return r.methods.join(', ');
  if (r.source === 'unknown') return r.resettable ? 'some (run as root to see which)' : 'none';
  return 'none';
}

/**
 * The bridge above a function whose reset_subordinate resets the secondary bus with every function
 * on it (kernel 6.14+), or null: the function sits on a root bus, or the kernel has no such file.
 */
export function slotResetBridge(io: HostIO, address: string): string | null {
  const bridge = upstreamBridge(io, address);
  return bridge !== null && io.exists(`${DEVICES}/${bridge}/reset_subordinate`) ? bridge : null;
}

/** Every function on the same bus as `address` (itself included), as the kernel lists them. */
export function functionsOnBus(io: HostIO, address: string): string[] {
  const bus = address.slice(0, address.lastIndexOf(':') + 1);
  return io.list(DEVICES).filter((a) => a.startsWith(bus));
}

/** The PCI device whose directory holds the function's (its upstream bridge), or null on a root bus. */
export function upstreamBridge(io: HostIO, address: string): string | null {
  const target = io.readLink(`${DEVICES}/${address}`);
  if (target === undefined) return null;
  const parts = target.split('/');
  const parent = parts[parts.length - 2];
  return parent !== undefined && isPciAddress(parent) ? parent : null;
}

function kernelHasResetMethod(io: HostIO): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease(io) ?? '');
  return m !== null && (Number(m[1]) > 5 || (Number(m[1]) === 5 && Number(m[2]) >= 15));
}

/** The whole standard config space: capabilities live past the 64-byte header. */
const CONFIG_BYTES = 256;
const CAP_PM = 0x01;
const CAP_EXP = 0x10;
const CAP_AF = 0x13;

/** flr (PCIe DevCap bit 28), af_flr (AF caps TP and FLR), pm (PMCSR No_Soft_Reset clear), in the kernel's order. */
export function methodsFromCapabilities(config: Buffer): string[] {
  const found = new Set<string>();
  const status = config.readUInt16LE(0x06);
  if ((status & 0x10) === 0) return [];
  let at = config[0x34] & 0xfc;
  for (let hops = 0; at >= 0x40 && at + 8 <= config.length && hops < 48; hops++) {
    const id = config[at];
    if (id === CAP_EXP && (config.readUInt32LE(at + 4) & (1 << 28)) !== 0) found.add('flr');
    if (id === CAP_AF && (config[at + 3] & 0x03) === 0x03) found.add('af_flr');
    if (id === CAP_PM && (config.readUInt16LE(at + 4) & 0x08) === 0 && !noPmResetQuirk(config)) found.add('pm');
    at = config[at + 1] & 0xfc;
  }
  return KERNEL_RESET_METHODS.filter((m) => found.has(m));
}

/** The kernel's quirk_no_pm_reset: AMD/ATI VGA functions claim a D3hot reset that does not reset them. */
function noPmResetQuirk(config: Buffer): boolean {
  return config.readUInt16LE(0x00) === 0x1002 && config[0x0b] === 0x03 && config[0x0a] === 0x00;
}

/** pci_parent_bus_reset's rule when the kernel probed it, adding functions in address order: the
 *  first function on a bus below a bridge (the others were not there yet). */
function busResetPossible(io: HostIO, address: string): boolean {
  return upstreamBridge(io, address) !== null && functionsOnBus(io, address).every((a) => a >= address);
}

/** The methods that can reset the function now: a listed bus reset works only while the function is
 *  alone on its bus (the kernel lists it for the first function of a multi-function card too). */
export function workingMethods(io: HostIO, r: FunctionResets): string[] {
  return r.methods.filter((m) => m !== 'bus' || functionsOnBus(io, r.address).length === 1);
}
