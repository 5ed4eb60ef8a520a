// A group is given back only when no process holds it. Unbinding a function from vfio-pci while a
// VM's QEMU holds the group blocks in the kernel until QEMU lets go, and the kernel cannot be told
// to call it off: it finishes the unbind by itself later and leaves the function with no driver. So
// attach looks first (holders through /proc/<pid>/fd, or the kernel refusing to open the group with
// EBUSY) and refuses before any change; a write that still times out names whoever holds the group
// (docs/kernel-facts.md, A group held by a VM).

import { describeHolders, vfioGroupHolders, type FileHolder } from '../host/file-holders';
import { HostTimeoutError, HostWriteError, type HostIO } from '../host/host-io';
import { readIommuGroupOf } from '../host/pci-discovery';
import { VFIO_DRIVER } from '../host/pci-device';
import { EngineError } from './engine-error';
import type { StepSpec } from './step-spec';

export interface GroupUse {
  holders: FileHolder[];
  /** The kernel refused to open /dev/vfio/<group> (EBUSY): held, maybe by a process we cannot see. */
  kernelBusy: boolean;
}

/**
 * The kernel is asked first. It lets one process at a time open a group, so when it opens the group
 * for us no one holds it, and the scan of every process's open files (long on a desktop with hundreds
 * of processes) is left out; the scan names the holders when the kernel says
 * busy, and is the only check where the kernel cannot be asked (not root, a simulated host).
 */
export function groupUse(io: HostIO, group: string): GroupUse {
  const answer = io.vfioGroupStatus?.(group).answer;
  if (answer === 'status' || answer === 'absent') return { holders: [], kernelBusy: false };
  return { holders: vfioGroupHolders(io, group), kernelBusy: answer === 'busy' };
}

/** "device still in use by 2817/qemu-system-x86 (it holds /dev/vfio/4)", or "" when nothing holds it. */
export function describeGroupUse(use: GroupUse, group: string): string {
  if (use.holders.length > 0) {
    return `device still in use by ${describeHolders(use.holders)} (${use.holders.length > 1 ? 'they hold' : 'it holds'} /dev/vfio/${group})`;
  }
  return use.kernelBusy ? `device still in use by a process gpu-hookd cannot see (the kernel refuses to open /dev/vfio/${group}: EBUSY)` : '';
}

/**
 * Throws Busy before any change when the plan would give back to the host a function of a group
 * someone holds: an unbind from vfio-pci would block, and a probe waits on a function the kernel is
 * still unbinding (left-to-kernel.ts) or is refused (EBUSY) by the host driver.
 */
export function refuseWhileHeld(io: HostIO, gpu: string, group: string | null, plan: readonly StepSpec[]): void {
  const givesBack = plan.some((s) => (s.kind === 'unbind-driver' && s.driver === VFIO_DRIVER) || s.kind === 'probe-driver');
  if (!givesBack || group === null) return;
  const inUse = describeGroupUse(groupUse(io, group), group);
  if (inUse === '') return;
  throw new EngineError(
    'Busy',
    `attach of ${gpu} refused before any change: ${inUse}; unbinding it from ${VFIO_DRIVER} now would block in the kernel ` +
      'until that process exits: shut the VM down (virsh shutdown or virsh destroy) or stop the process, then run attach again',
    { gpu },
  );
}

/** For a write that timed out or met EBUSY: "; device still in use by ..." naming the holders, or "". */
export function inUseNote(io: HostIO, gpu: string, cause: unknown): string {
  const busy = cause instanceof HostTimeoutError || (cause instanceof HostWriteError && cause.code === 'EBUSY');
  const group = busy ? readIommuGroupOf(io, gpu) : undefined;
  if (!group) return '';
  const inUse = describeGroupUse(groupUse(io, group), group);
  return inUse === '' ? '' : `; ${inUse}`;
}
