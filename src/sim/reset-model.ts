// Resets as the kernel offers them: which methods a function has (pci_init_reset_methods: a
// device-specific quirk, FLR from the PCIe capability, PM from a D3hot cycle unless No_Soft_Reset or
// a quirk says otherwise, a bus reset for the first function on a bus below a bridge), the files that
// show them (reset_method from 5.15, reset whenever there is a method, a bridge's reset_subordinate
// from 6.14), and what writing them does. A wedged function (a card a VM left in a state its host
// driver cannot probe) is what the tests reset.

import { KernelContext, KernelError } from './kernel-context';
import { PciDeviceSpec } from './scenario';
import { stripNewline } from './kernel-writes';

export const KERNEL_RESET_ORDER = ['device_specific', 'acpi', 'flr', 'af_flr', 'pm', 'bus', 'cxl_bus'];

/**
 * How a wedged function misbehaves until a reset clears it: "probe-fails" (host drivers refuse it),
 * "no-nodes" (its DRM driver binds but creates no /dev/dri node), "forever" (probes fail and no
 * reset helps: the card needs a power cycle).
 */
export type WedgeKind = 'probe-fails' | 'no-nodes' | 'forever';

export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m !== null && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}

/** The methods the kernel finds at enumeration, in its order. */
export function defaultResetMethods(k: KernelContext, dev: PciDeviceSpec): string[] {
  const methods: string[] = [];
  if (k.isBridge(dev)) return methods;
  if (dev.reset.flr) methods.push('flr');
  // quirk_no_pm_reset: AMD/ATI VGA functions claim a D3hot reset that does not reset them.
  const noPm = dev.vendor === '1002' && dev.class.startsWith('0300');
  if (dev.reset.pm && !noPm) methods.push('pm');
  // The kernel probes the methods as it adds the function, in address order: a bus reset is listed
  // for the first function on a bus below a bridge (the lab's 6.1 guest lists it for 01:00.0 of a
  // two-function card), and at reset time works only while nothing else is on that bus.
  if (dev.reset.busReset && dev.parent !== null && busOf(k, dev.address).every((d) => d.address >= dev.address)) methods.push('bus');
  return methods;
}

/** The methods a reset can use now: a listed bus reset fails once another function shares the bus. */
function workingResetMethods(k: KernelContext, dev: PciDeviceSpec): string[] {
  const alone = busOf(k, dev.address).length === 1;
  return enabledResetMethods(k, dev).filter((m) => m !== 'bus' || alone);
}

/** The methods enabled now: the scenario's, or what was written to reset_method. */
export function enabledResetMethods(k: KernelContext, dev: PciDeviceSpec): string[] {
  return k.state.resetMethods[dev.address] ?? defaultResetMethods(k, dev);
}

/** reset_method (5.15+) and reset exist only for a function with a method (their is_visible). */
export function writeResetFiles(k: KernelContext, dev: PciDeviceSpec): void {
  const dir = k.deviceDir(dev.address);
  const methods = defaultResetMethods(k, dev);
  if (methods.length > 0) {
    k.tree.file(`${dir}/reset`, '');
    if (kernelAtLeast(k.scenario.kernel.release, 5, 15)) k.tree.file(`${dir}/reset_method`, `${methods.join(' ')}\n`);
  }
  if (k.isBridge(dev) && kernelAtLeast(k.scenario.kernel.release, 6, 14)) k.tree.file(`${dir}/reset_subordinate`, '');
}

/** reset_store: "1" resets the function with the first method that works; anything else EINVAL. */
export function writeReset(k: KernelContext, dev: PciDeviceSpec, value: string): void {
  if (parseUnsigned(value) !== 1) throw new KernelError('EINVAL', 'reset takes 1');
  if (workingResetMethods(k, dev).length === 0) throw new KernelError('ENOTTY', `${dev.address} has no reset method that works`);
  resetFunction(k, dev.address);
}

/** reset_method_store: "default", "" (none) or a list of the function's own methods. */
export function writeResetMethod(k: KernelContext, dev: PciDeviceSpec, value: string): void {
  const text = stripNewline(value).trim();
  const defaults = defaultResetMethods(k, dev);
  let methods: string[];
  if (text === 'default') methods = defaults;
  else if (text === '') methods = [];
  else {
    methods = text.split(/\s+/);
    const unknown = methods.find((m) => !defaults.includes(m));
    if (unknown !== undefined) throw new KernelError('EINVAL', `${dev.address} has no reset method ${unknown}`);
  }
  if (text === 'default') delete k.state.resetMethods[dev.address];
  else k.state.resetMethods[dev.address] = methods;
  k.tree.file(`${k.deviceDir(dev.address)}/reset_method`, `${methods.join(' ')}\n`);
}

/** reset_subordinate_store: a non-zero value resets the bridge's secondary bus and every function below it. */
export function writeResetSubordinate(k: KernelContext, bridge: PciDeviceSpec, value: string): void {
  const n = parseUnsigned(value);
  if (n === undefined) throw new KernelError('EINVAL', 'reset_subordinate takes a number');
  if (n === 0) return;
  const below = belowBridge(k, bridge.address);
  if (below.some((d) => !d.reset.busReset)) throw new KernelError('ENOTTY', `a device below ${bridge.address} cannot take a bus reset`);
  for (const d of below) resetFunction(k, d.address);
}

/** A reset clears a wedge that a reset can clear. */
function resetFunction(k: KernelContext, address: string): void {
  if (k.state.wedged[address] !== 'forever') delete k.state.wedged[address];
}

export function wedgeOf(k: KernelContext, address: string): WedgeKind | undefined {
  return k.state.wedged[address];
}

function belowBridge(k: KernelContext, bridge: string): PciDeviceSpec[] {
  const direct = k.scenario.devices.filter((d) => d.parent === bridge);
  return direct.flatMap((d) => [d, ...belowBridge(k, d.address)]);
}

function busOf(k: KernelContext, address: string): PciDeviceSpec[] {
  const bus = address.slice(0, address.lastIndexOf(':') + 1);
  return k.scenario.devices.filter((d) => d.address.startsWith(bus));
}

/** kstrtoul with base 0, as the store functions parse. */
function parseUnsigned(value: string): number | undefined {
  const t = stripNewline(value);
  if (!/^(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$/i.test(t)) return undefined;
  return Number(t.startsWith('0') && !/^0x/i.test(t) ? parseInt(t, 8) : t);
}
