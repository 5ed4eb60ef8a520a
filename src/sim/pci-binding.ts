// Binding and unbinding PCI devices, and what each kind of driver does when it binds: vfio-pci
// opens /dev/vfio/<group> and claims the boot VGA's aperture, a DRM driver creates /dev/dri nodes,
// maybe a framebuffer, and (upstream ones) claims the aperture too. Matching follows pci_match_device: a driver_override names the only
// driver that may bind (whatever its id table says); otherwise dynamic ids, then the static table.

import { addFramebuffer, removeFirmwareFb, removeFramebuffersOf } from './console-model';
import { KernelContext, KernelError } from './kernel-context';
import { idMatches, PciIdEntry } from './pci-id-match';
import { DrmSpec, PciDeviceSpec } from './scenario';
import { pciDriverDir, vfioGroupNode } from './sysfs-layout';

export const VFIO_PCI = 'vfio-pci';

export function driverMatches(k: KernelContext, address: string, driver: string): boolean {
  const dev = k.device(address);
  if (!dev) return false;
  const override = k.state.overrides[address];
  if (override !== undefined) return override === driver;
  if ((k.state.dynIds[driver] ?? []).some((e) => idMatches(e, dev))) return true;
  return k.staticIds(driver).some((e) => idMatches(e, dev));
}

/** True when the driver's static table already covers the id (new_id then says EEXIST). */
export function staticTableCovers(k: KernelContext, driver: string, id: PciIdEntry): boolean {
  const probe = {
    vendor: id.vendor.toString(16).padStart(4, '0'),
    device: id.device.toString(16).padStart(4, '0'),
    subsystemVendor: 'ffff',
    subsystemDevice: 'ffff',
    class: id.class.toString(16).padStart(6, '0'),
  };
  return k.staticIds(driver).some((e) => idMatches(e, probe));
}

/** driver_override as the kernel stores it: "" clears it (reads "(null)"). */
export function setOverride(k: KernelContext, address: string, name: string): void {
  if (name === '') delete k.state.overrides[address];
  else k.state.overrides[address] = name;
  k.tree.file(`${k.deviceDir(address)}/driver_override`, `${name === '' ? '(null)' : name}\n`);
}

export type ProbeOutcome = 'bound' | 'refused';

/**
 * One driver's probe of one device, as really_probe does it: a device in a group held by a process
 * refuses host drivers with EBUSY (the IOMMU domain is owned); a probe that fails leaves the device
 * unbound ("refused"), which callers report or swallow as the kernel does.
 */
export function probe(k: KernelContext, address: string, driver: string): ProbeOutcome {
  const dev = k.device(address);
  if (!dev) throw new KernelError('ENODEV', `no PCI device ${address}`);
  if (driver !== VFIO_PCI && dev.iommuGroup !== null && k.state.heldGroups[String(dev.iommuGroup)]) {
    throw new KernelError('EBUSY', `IOMMU group ${dev.iommuGroup} is owned by a user of vfio`);
  }
  if (driver === VFIO_PCI && (k.isBridge(dev) || dev.iommuGroup === null)) return 'refused';
  if (k.faults.refuses(driver, address)) return 'refused';
  const wedge = k.state.wedged[address];
  if (driver !== VFIO_PCI && (wedge === 'probe-fails' || wedge === 'forever')) return 'refused';
  bind(k, dev, driver);
  return 'bound';
}

export function bind(k: KernelContext, dev: PciDeviceSpec, driver: string): void {
  const dir = k.deviceDir(dev.address);
  k.state.drivers[dev.address] = driver;
  k.tree.link(`${dir}/driver`, pciDriverDir(driver));
  k.tree.link(`${pciDriverDir(driver)}/${dev.address}`, dir);
  // A function wedged "no-nodes" binds, but its DRM driver's init fails before it registers a node.
  const drm = k.state.wedged[dev.address] === 'no-nodes' ? null : drmOf(k, dev, driver);
  // The aperture is claimed early in probe, before the driver registers a framebuffer of its own (which
  // then may take the number the firmware's had). Scenario validation keeps boot states where this
  // already happened from listing the device.
  if (dev.bootVga && (driver === VFIO_PCI || drm?.removesFirmwareFb)) removeFirmwareFb(k);
  if (driver === VFIO_PCI && dev.iommuGroup !== null) k.tree.file(vfioGroupNode(dev.iommuGroup), '');
  if (drm) createDrmNodes(k, dev, drm);
  if (driver !== VFIO_PCI) addHostUses(k, dev);
  if (drm?.fbdev) addFramebuffer(k, drm.fbName, dev.address, dir);
}

/** A DRM driver drives display devices only (virtio-pci also binds 9p and net functions). */
function drmOf(k: KernelContext, dev: PciDeviceSpec, driver: string): DrmSpec | null {
  return dev.class.startsWith('03') ? (k.driver(driver)?.driver.drm ?? null) : null;
}

export function unbind(k: KernelContext, dev: PciDeviceSpec): void {
  const driver = k.state.drivers[dev.address];
  if (driver === undefined) return;
  const dir = k.deviceDir(dev.address);
  delete k.state.drivers[dev.address];
  k.tree.remove(`${dir}/driver`);
  k.tree.remove(`${pciDriverDir(driver)}/${dev.address}`);
  removeHostUses(k, dev);
  const drm = drmOf(k, dev, driver);
  if (drm) {
    removeDrmNodes(k, dev);
    removeFramebuffersOf(k, dev.address, dir);
  }
  if (driver === VFIO_PCI && dev.iommuGroup !== null) {
    const stillOnVfio = k.groupMembers(dev.iommuGroup).some((m) => k.state.drivers[m.address] === VFIO_PCI);
    if (!stillOnVfio) k.tree.remove(vfioGroupNode(dev.iommuGroup));
  }
}

/**
 * device_attach for an unbound device (drivers_probe, a driver registering, new_id): the first
 * registered driver that matches probes it. Drivers that probe asynchronously queue the probe;
 * `onlyDriver` limits the search to one driver (driver registration).
 */
export function attach(k: KernelContext, address: string, onlyDriver?: string): void {
  if (k.state.drivers[address] !== undefined) return;
  if (k.state.pending.some((p) => p.address === address)) return;
  const candidates = onlyDriver ? [onlyDriver] : k.state.pciDrivers;
  const driver = candidates.find((d) => k.isRegistered(d) && driverMatches(k, address, d));
  if (!driver) return;
  const delay = k.state.zeroDelays ? 0 : (k.driver(driver)?.driver.probeDelayMs ?? 0);
  if (delay > 0) {
    const pending = { address, driver, dueAt: k.now + delay };
    k.state.pending.push(pending);
    k.queued.push(pending);
    return;
  }
  probe(k, address, driver);
}

/** Completes queued probes that are due; a probe whose device or driver changed meanwhile is dropped. */
export function settleProbes(k: KernelContext): void {
  const due = k.state.pending.filter((p) => p.dueAt <= k.now);
  if (due.length === 0) return;
  k.state.pending = k.state.pending.filter((p) => p.dueAt > k.now);
  for (const p of due) {
    if (k.state.drivers[p.address] !== undefined || !k.isRegistered(p.driver) || !driverMatches(k, p.address, p.driver)) continue;
    try {
      probe(k, p.address, p.driver);
    } catch (e) {
      // An asynchronous probe has no writer to report to: the device just stays unbound.
      if (!(e instanceof KernelError)) throw e;
    }
  }
}

/** A DRM device's minors: cardN from 0-63 and renderD(128+M) from 128-191, each the lowest free
 *  in its own range (drm_minor_alloc), so a display-only driver's card shifts no render node. */
export interface DrmMinors {
  card: number;
  render: number | null;
}

function lowestFreeMinor(used: number[], from: number): number {
  let minor = from;
  while (used.includes(minor)) minor++;
  return minor;
}

/** The minors a DRM device binding now gets, given the minors bound devices hold. */
export function allocateDrmMinors(held: readonly DrmMinors[], drm: DrmSpec): DrmMinors {
  const render = drm.renderNode ? lowestFreeMinor(held.flatMap((m) => (m.render === null ? [] : [m.render])), 128) : null;
  return { card: lowestFreeMinor(held.map((m) => m.card), 0), render };
}

function drmNodes(minors: DrmMinors): [string, number][] {
  return minors.render === null ? [[`card${minors.card}`, minors.card]] : [[`card${minors.card}`, minors.card], [`renderD${minors.render}`, minors.render]];
}

function createDrmNodes(k: KernelContext, dev: PciDeviceSpec, drm: DrmSpec): void {
  const minors = allocateDrmMinors(Object.values(k.state.drmMinors), drm);
  k.state.drmMinors[dev.address] = minors;
  const dir = k.deviceDir(dev.address);
  const nodes = drmNodes(minors);
  for (const [node, number] of nodes) {
    k.tree.file(`dev/dri/${node}`, '');
    k.tree.link(`${dir}/drm/${node}/device`, dir);
    k.tree.file(`${dir}/drm/${node}/dev`, `226:${number}\n`);
    k.tree.link(`sys/class/drm/${node}`, `${dir}/drm/${node}`);
  }
  // udev's links; the holder scan reads them as a real host's would.
  k.tree.link(`dev/dri/by-path/pci-${dev.address}-card`, `dev/dri/${nodes[0][0]}`);
  if (nodes[1]) k.tree.link(`dev/dri/by-path/pci-${dev.address}-render`, `dev/dri/${nodes[1][0]}`);
}

function removeDrmNodes(k: KernelContext, dev: PciDeviceSpec): void {
  const minors = k.state.drmMinors[dev.address];
  if (minors === undefined) return;
  delete k.state.drmMinors[dev.address];
  const dir = k.deviceDir(dev.address);
  for (const [node] of drmNodes(minors)) {
    k.tree.remove(`dev/dri/${node}`);
    k.tree.remove(`sys/class/drm/${node}`);
  }
  k.tree.remove(`${dir}/drm`);
  k.tree.remove(`dev/dri/by-path/pci-${dev.address}-card`);
  k.tree.remove(`dev/dri/by-path/pci-${dev.address}-render`);
  if (Object.keys(k.state.drmMinors).length === 0) k.tree.remove('dev/dri');
}

/**
 * What a NIC's or storage controller's driver creates while bound, where the kernel puts it: the
 * interface under the function (sys/class/net links to it), the disk under its controller (NVMe:
 * nvme/nvmeN/<disk>; SATA: ataN/hostN/.../block/<disk>), which sys/block links to.
 */
function hostUseDirs(k: KernelContext, dev: PciDeviceSpec): { link: string; dir: string }[] {
  const dir = k.deviceDir(dev.address);
  const out: { link: string; dir: string }[] = [];
  if (dev.netdev) out.push({ link: `sys/class/net/${dev.netdev}`, dir: `${dir}/net/${dev.netdev}` });
  if (dev.disk) {
    const nvme = /^(nvme\d+)n\d+$/.exec(dev.disk);
    const under = nvme ? `nvme/${nvme[1]}/${dev.disk}` : `ata1/host0/target0:0:0/0:0:0:0/block/${dev.disk}`;
    out.push({ link: `sys/block/${dev.disk}`, dir: `${dir}/${under}` });
  }
  return out;
}

function addHostUses(k: KernelContext, dev: PciDeviceSpec): void {
  for (const { link, dir } of hostUseDirs(k, dev)) {
    k.tree.file(`${dir}/uevent`, '');
    k.tree.link(link, dir);
  }
}

function removeHostUses(k: KernelContext, dev: PciDeviceSpec): void {
  const base = `${k.deviceDir(dev.address)}/`;
  for (const { link, dir } of hostUseDirs(k, dev)) {
    k.tree.remove(link);
    k.tree.remove(base + dir.slice(base.length).split('/')[0]);
  }
}
