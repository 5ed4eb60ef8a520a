// An unbind from vfio-pci that timed out is not over and cannot be called off: the kernel dropped the
// driver link at once and waits, holding the function's device lock, until the process holding the
// group (a VM's QEMU) lets go; then it finishes by itself and leaves the function with no driver
// (docs/kernel-facts.md, A group held by a VM). Until then reading driver_override and every write naming that
// function wait on the same lock, and a synchronous read would freeze the daemon's event loop. So the
// function is left to the kernel: nothing reads or writes its attributes until the group is free.

import { HostTimeoutError, type HostIO } from '../host/host-io';
import { isPciAddress } from '../host/pci-address';
import { readIommuGroupOf } from '../host/pci-discovery';
import { VFIO_DRIVER } from '../host/pci-device';
import { boundDriver } from './device-state';
import { describeGroupUse, groupUse } from './group-in-use';
import type { StepSpec } from './step-spec';

const VFIO_UNBIND = `/sys/bus/pci/drivers/${VFIO_DRIVER}/unbind`;

/** The function whose unbind from vfio-pci did not return in time (`cause`), or undefined. */
export function unbindLeftToKernel(cause: unknown): string | undefined {
  if (!(cause instanceof HostTimeoutError) || !cause.path.endsWith(VFIO_UNBIND)) return undefined;
  const device = cause.value.trim();
  return isPciAddress(device) ? device : undefined;
}

/** "" when no process holds the function's IOMMU group, else "device still in use by ..." (no
 *  attribute of the function is read: only links and the group's holders). */
export function groupUseOf(io: HostIO, device: string): string {
  const group = readIommuGroupOf(io, device);
  return group === null ? '' : describeGroupUse(groupUse(io, group), group);
}

/**
 * Functions of a journal's steps that may sit in an unbind from vfio-pci the kernel has not finished
 * (a transition timed out there, or died waiting): a step of theirs unbinds from vfio-pci, their
 * driver link is gone, and their group is still held. Recovery leaves them alone.
 */
export function unbindsStillWaiting(io: HostIO, steps: readonly StepSpec[]): string[] {
  const candidates = new Set<string>();
  for (const s of steps) {
    if ((s.kind === 'unbind-driver' && s.driver === VFIO_DRIVER) || (s.kind === 'probe-driver' && s.expect === VFIO_DRIVER)) candidates.add(s.device);
  }
  return [...candidates].filter((d) => boundDriver(io, d) === null && groupUseOf(io, d) !== '');
}

/** "0000:01:00.0", "0000:01:00.0 and 0000:01:00.1", "0000:01:00.0, 0000:01:00.1 and 0000:01:00.3": in address order. */
export function listDevices(devices: Iterable<string>): string {
  const sorted = [...devices].sort();
  return sorted.length <= 1 ? sorted.join('') : `${sorted.slice(0, -1).join(', ')} and ${sorted[sorted.length - 1]}`;
}
