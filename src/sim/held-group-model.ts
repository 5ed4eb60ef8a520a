// An IOMMU group held open by a process (a VM's QEMU), as the 6.1 kernel treats it (docs/kernel-facts.md,
// A group held by a VM): host drivers refuse the group's members (EBUSY, see probe());
// unbinding a member from vfio-pci takes the device's lock, drops the driver links at once, then
// waits in vfio's remove until the holder lets go, and completes by itself, leaving the function
// with no driver, whether or not the writer still waits. Writes needing that device's lock wait too.
// The holder is a process with an fd link to /dev/vfio/<group>, which is what holder scans read.

import { writeProcess } from './build-tree';
import { KernelContext } from './kernel-context';
import { deviceAttributeOf, stripNewline } from './kernel-writes';
import { unbind, VFIO_PCI } from './pci-binding';
import { pciDriverDir, vfioGroupNode } from './sysfs-layout';

export const DEFAULT_HOLDER = { pid: 4242, comm: 'qemu-system-x86' };

const DRIVER_WRITE = /^sys\/bus\/pci\/drivers\/([^/]+)\/(bind|unbind)$/;

/** The device whose lock a write takes, and whether the write unbinds it from vfio-pci. */
export interface LockedWrite {
  address: string;
  vfioUnbind: boolean;
}

/**
 * What a write locks, as the kernel's store functions do: drivers_probe, a driver's bind and unbind
 * (by the written address), and driver_override (by its path). A write through a driver link an
 * unbind already took away locks nothing: it fails at once (ENOENT).
 */
export function lockedWrite(k: KernelContext, rel: string, value: string): LockedWrite | undefined {
  const written = stripNewline(value);
  if (rel === 'sys/bus/pci/drivers_probe') return { address: written, vfioUnbind: false };
  const attribute = deviceAttributeOf(rel);
  if (attribute?.attr === 'driver_override') return { address: attribute.address, vfioUnbind: false };
  let driver: string | undefined;
  let action: string;
  const direct = DRIVER_WRITE.exec(rel);
  const viaLink = attribute && /^driver\/(bind|unbind)$/.exec(attribute.attr);
  if (direct) {
    driver = direct[1];
    action = direct[2];
  } else if (attribute && viaLink && !k.state.unbindsWaiting.includes(attribute.address)) {
    driver = k.state.drivers[attribute.address];
    action = viaLink[1];
  } else {
    return undefined;
  }
  return { address: written, vfioUnbind: action === 'unbind' && driver === VFIO_PCI && k.state.drivers[written] === VFIO_PCI };
}

export function unbindWaiting(k: KernelContext, address: string): boolean {
  return k.state.unbindsWaiting.includes(address);
}

/** True when the device's group is held by a process. */
export function groupHeld(k: KernelContext, address: string): boolean {
  const group = k.device(address)?.iommuGroup;
  return group !== null && group !== undefined && k.state.heldGroups[String(group)] !== undefined;
}

/** The unbind starts: the driver links go now, the rest when the group is released. */
export function startHeldUnbind(k: KernelContext, address: string): void {
  k.state.unbindsWaiting.push(address);
  k.tree.remove(`${k.deviceDir(address)}/driver`);
  k.tree.remove(`${pciDriverDir(VFIO_PCI)}/${address}`);
}

/** A process opens /dev/vfio/<group>: one of the scenario's (or one a test wrote), or a new one. */
export function holdGroupAs(k: KernelContext, group: string, holder: { pid: number; comm?: string }): void {
  const { pid } = holder;
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`refusing PID ${pid} as the holder of IOMMU group ${group}: give a process number above 1`);
  const held = k.state.heldGroups[group];
  if (held) {
    throw new Error(`IOMMU group ${group} is already held by ${held.pid}/${held.comm}: the kernel lets one process open a group at a time, so call releaseGroup first`);
  }
  if (!k.tree.present(vfioGroupNode(Number(group)))) {
    throw new Error(`nothing can hold IOMMU group ${group}: /dev/vfio/${group} does not exist (no member of the group is on vfio-pci)`);
  }
  const dir = `proc/${pid}`;
  // An adopted process's entry links to the real /proc: nothing may be written through it.
  if (k.tree.isLink(dir)) {
    throw new Error(`process ${pid} is a real process adopted by the simulated host: let it open dev/vfio/${group} below the simulated root itself`);
  }
  const ownProcess = !k.tree.present(dir);
  let comm: string;
  if (ownProcess) {
    comm = holder.comm ?? DEFAULT_HOLDER.comm;
    writeProcess(k.tree, k.scenario, { pid, comm, cmdline: [comm], fds: [], threads: [] });
  } else {
    comm = k.tree.read(`${dir}/comm`).trim();
    if (holder.comm !== undefined && holder.comm !== comm) {
      throw new Error(`process ${pid} of the simulated host is ${comm}, not ${holder.comm}: leave comm out to use it as the holder`);
    }
  }
  const used = new Set(k.tree.entries(`${dir}/fd`).map(Number));
  let fd = 3;
  while (used.has(fd)) fd++;
  k.tree.rawLink(`${dir}/fd/${fd}`, `/dev/vfio/${group}`);
  k.state.heldGroups[group] = { pid, comm, fd, ownProcess };
}

/**
 * The holder lets go (QEMU exits): the unbinds that waited complete, leaving their functions with no
 * driver; the holder's fd link goes, and a process holdGroup made up exits. Nothing held: nothing to do.
 */
export function releaseHeldGroup(k: KernelContext, group: string): void {
  const held = k.state.heldGroups[group];
  if (!held) return;
  delete k.state.heldGroups[group];
  for (const address of k.state.unbindsWaiting.filter((a) => String(k.device(a)?.iommuGroup) === group)) {
    k.state.unbindsWaiting = k.state.unbindsWaiting.filter((a) => a !== address);
    const dev = k.device(address);
    if (dev) unbind(k, dev);
  }
  k.tree.remove(held.ownProcess ? `proc/${held.pid}` : `proc/${held.pid}/fd/${held.fd}`);
}

/** The groups a process holds (it is exiting: the kernel closes its files). */
export function groupsHeldBy(k: KernelContext, pid: number): string[] {
  return Object.entries(k.state.heldGroups)
    .filter(([, h]) => h.pid === pid)
    .map(([group]) => group);
}
