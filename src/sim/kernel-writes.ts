// What each writable attribute does when written, as the 6.1 kernel's store functions do it:
// bind/unbind/new_id/remove_id, driver_override, drivers_probe, vtconsole bind, the firmware
// framebuffer's platform driver, CPU hotplug, cpufreq governors and IRQ affinity. Any other
// existing file is read-only (EACCES); a missing one is ENOENT.

import * as fs from 'node:fs';
import { writePlatformDriver, writeVtconBind } from './console-model';
import { KernelContext, KernelError } from './kernel-context';
import { attach, driverMatches, probe, staticTableCovers, unbind, setOverride } from './pci-binding';
import { PciIdEntry, parseNewId, sameId, PCI_ANY_ID } from './pci-id-match';
import { writeCpuOnline } from './cpu-model';
import { formatCpuList, parseCpuList } from './sysfs-layout';
import { writeReset, writeResetMethod, writeResetSubordinate } from './reset-model';

const PCI_ADDR = '[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]';
const DEVICE_ATTR = new RegExp(`^sys/(?:bus/pci/devices|devices/pci[0-9a-f:]+(?:/${PCI_ADDR})*)/(${PCI_ADDR})/(.+)$`);
const DRIVER_ATTR = /^sys\/bus\/pci\/drivers\/([^/]+)\/(bind|unbind|new_id|remove_id)$/;
const VTCON_BIND = /^sys\/(?:class\/vtconsole|devices\/virtual\/vtconsole)\/vtcon(\d+)\/bind$/;
const PLATFORM_DRIVER = /^sys\/bus\/platform\/drivers\/([^/]+)\/(bind|unbind)$/;
const CPU_ONLINE = /^sys\/devices\/system\/cpu\/cpu(\d+)\/online$/;
const GOVERNOR = /^sys\/devices\/system\/cpu\/cpu(\d+)\/cpufreq\/scaling_governor$/;
const IRQ_AFFINITY = /^proc\/irq\/(\d+)\/smp_affinity_list$/;

/** The PCI device and attribute a path names ("driver_override", "driver/unbind"), or null. */
export function deviceAttributeOf(rel: string): { address: string; attr: string } | null {
  const m = DEVICE_ATTR.exec(rel);
  return m ? { address: m[1], attr: m[2] } : null;
}

/** sysfs_streq: the value with one trailing newline ignored. */
export function stripNewline(value: string): string {
  return value.endsWith('\n') ? value.slice(0, -1) : value;
}

export function applyWrite(k: KernelContext, rel: string, value: string): void {
  let m: RegExpExecArray | null;
  if (rel === 'sys/bus/pci/drivers_probe') return driversProbe(k, stripNewline(value));
  if ((m = DRIVER_ATTR.exec(rel))) return driverAttr(k, m[1], m[2], value);
  const attribute = deviceAttributeOf(rel);
  if (attribute) return deviceAttr(k, attribute.address, attribute.attr, value);
  if ((m = VTCON_BIND.exec(rel))) return writeVtconBind(k, Number(m[1]), value);
  if ((m = PLATFORM_DRIVER.exec(rel))) return writePlatformDriver(k, m[1], m[2] as 'bind' | 'unbind', value);
  if ((m = CPU_ONLINE.exec(rel))) return writeCpuOnline(k, Number(m[1]), value);
  if ((m = GOVERNOR.exec(rel))) return writeGovernor(k, rel, value);
  if ((m = IRQ_AFFINITY.exec(rel))) return writeIrqAffinity(k, rel, m[1], value);
  if (rel === 'sys/bus/pci/rescan' || rel === 'sys/bus/pci/drivers_autoprobe') return requireFile(k, rel);
  requireFile(k, rel);
  throw new KernelError('EACCES', `${rel} is read-only`);
}

function requireFile(k: KernelContext, rel: string): void {
  if (!k.tree.present(rel)) throw new KernelError('ENOENT', `${rel} does not exist`);
  if (fs.statSync(k.tree.abs(rel)).isDirectory()) throw new KernelError('EISDIR', `${rel} is a directory`);
}

/** drivers_probe: unknown device ENODEV; else device_attach, whose probe failures are swallowed. */
function driversProbe(k: KernelContext, address: string): void {
  if (!k.device(address)) throw new KernelError('ENODEV', `no PCI device ${address}`);
  attach(k, address);
}

function deviceAttr(k: KernelContext, address: string, attr: string, value: string): void {
  const dev = k.device(address);
  if (!dev) throw new KernelError('ENOENT', `no PCI device ${address}`);
  if (attr === 'driver_override') {
    if (value.length >= 4095) throw new KernelError('EINVAL', 'driver_override is too long');
    setOverride(k, address, stripNewline(value));
    return;
  }
  const viaDriver = /^driver\/(bind|unbind|new_id|remove_id)$/.exec(attr);
  if (viaDriver) {
    const driver = k.state.drivers[address];
    // An unbind waiting for a held group has already taken the driver link away.
    if (driver === undefined || k.state.unbindsWaiting.includes(address)) throw new KernelError('ENOENT', `${address} has no driver link`);
    return driverAttr(k, driver, viaDriver[1], value);
  }
  requireFile(k, `${k.deviceDir(address)}/${attr}`);
  if (attr === 'reset') return writeReset(k, dev, value);
  if (attr === 'reset_method') return writeResetMethod(k, dev, value);
  if (attr === 'reset_subordinate') return writeResetSubordinate(k, dev, value);
  throw new KernelError('EACCES', `${attr} of ${address} is read-only`);
}

function driverAttr(k: KernelContext, driver: string, action: string, value: string): void {
  if (!k.isRegistered(driver)) throw new KernelError('ENOENT', `PCI driver ${driver} is not registered`);
  const address = stripNewline(value);
  switch (action) {
    case 'unbind': {
      const dev = k.device(address);
      if (!dev || k.state.drivers[address] !== driver) throw new KernelError('ENODEV', `${address} is not bound to ${driver}`);
      unbind(k, dev);
      return;
    }
    case 'bind': {
      const dev = k.device(address);
      if (!dev || !driverMatches(k, address, driver)) throw new KernelError('ENODEV', `${driver} does not match ${address}`);
      if (k.state.drivers[address] !== undefined) throw new KernelError('EBUSY', `${address} is already bound`);
      k.state.pending = k.state.pending.filter((p) => p.address !== address);
      // device_driver_attach returns the probe's own error; a refusing probe reads as ENODEV.
      if (probe(k, address, driver) === 'refused') throw new KernelError('ENODEV', `${driver} failed to probe ${address}`);
      return;
    }
    case 'new_id':
      return newId(k, driver, value);
    default:
      return removeId(k, driver, value);
  }
}

function newId(k: KernelContext, driver: string, value: string): void {
  const id = parseNewId(value);
  if (!id) throw new KernelError('EINVAL', `new_id wants "vendor device [subvendor subdevice class class_mask]" in hex`);
  if (staticTableCovers(k, driver, id)) throw new KernelError('EEXIST', `${driver} already handles that id`);
  const ids = (k.state.dynIds[driver] ??= []);
  if (ids.some((e) => sameId(e, id))) throw new KernelError('EEXIST', `${driver} already has that dynamic id`);
  ids.push(id);
  // pci_add_dynid ends with driver_attach: matching unbound devices are probed right away.
  for (const dev of k.scenario.devices) attach(k, dev.address, driver);
}

function removeId(k: KernelContext, driver: string, value: string): void {
  const id = parseNewId(value);
  if (!id) throw new KernelError('EINVAL', `remove_id wants "vendor device [subvendor subdevice class class_mask]" in hex`);
  const given = value.trim().split(/\s+/).length;
  const ids = k.state.dynIds[driver] ?? [];
  const keep = ids.filter((e) => !(e.vendor === id.vendor && e.device === id.device && optionalMatch(e, id, given)));
  if (keep.length === ids.length) throw new KernelError('ENODEV', `${driver} has no such dynamic id`);
  k.state.dynIds[driver] = keep;
}

function optionalMatch(e: PciIdEntry, id: PciIdEntry, given: number): boolean {
  if (given > 2 && id.subvendor !== PCI_ANY_ID && e.subvendor !== id.subvendor) return false;
  if (given > 3 && id.subdevice !== PCI_ANY_ID && e.subdevice !== id.subdevice) return false;
  if (given > 5 && ((e.class ^ id.class) & id.classMask) !== 0) return false;
  return true;
}

function writeGovernor(k: KernelContext, rel: string, value: string): void {
  requireFile(k, rel);
  const governor = value.trim();
  if (!k.scenario.cpu.governors.includes(governor)) throw new KernelError('EINVAL', `no cpufreq governor ${governor}`);
  k.tree.file(rel, `${governor}\n`);
}

function writeIrqAffinity(k: KernelContext, rel: string, irq: string, value: string): void {
  requireFile(k, rel);
  const cpus = parseCpuList(value);
  const online = onlineCpus(k);
  if (!cpus || cpus.length === 0 || !cpus.some((c) => online.includes(c))) {
    throw new KernelError('EINVAL', `irq ${irq} needs at least one online cpu, got ${JSON.stringify(value.trim())}`);
  }
  k.tree.file(rel, `${formatCpuList(cpus)}\n`);
}

function onlineCpus(k: KernelContext): number[] {
  return parseCpuList(fs.readFileSync(k.tree.abs('sys/devices/system/cpu/online'), 'utf8')) ?? [];
}
