// The kernel's own answer about an IOMMU group: VFIO_GROUP_GET_STATUS on /dev/vfio/<group>, through
// the project's addon (native/vfio-viability, built by npm install). Only HostIO calls this: it is
// kernel I/O like any sysfs write.

import * as os from 'node:os';
import { addonFunction } from './native-addon';

export type VfioGroupStatus =
  /** The ioctl answered. */
  | { answer: 'status'; viable: boolean; containerSet: boolean }
  /** open() said EBUSY: another process (a running VM's QEMU) has the group open. */
  | { answer: 'busy' }
  /** No /dev/vfio/<group>: no member of the group is on vfio-pci. */
  | { answer: 'absent' }
  /** The kernel could not be asked here; `why` is a phrase ("not running as root"). */
  | { answer: 'unavailable'; why: string };

const VIABLE = 1;
const CONTAINER_SET = 2;
type StatusFn = (file: string) => { errno: number; flags: number };

export const ERRNO_NAMES = new Map(Object.entries(os.constants.errno).map(([name, code]) => [code, name]));

/** Maps the addon's raw answer; pure, so every errno's meaning is tested without a kernel. */
export function interpretGroupStatus(errno: number, flags: number): VfioGroupStatus {
  if (errno === 0) return { answer: 'status', viable: (flags & VIABLE) !== 0, containerSet: (flags & CONTAINER_SET) !== 0 };
  const name = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
  if (name === 'EBUSY') return { answer: 'busy' };
  if (name === 'ENOENT' || name === 'ENODEV') return { answer: 'absent' };
  if (name === 'EACCES' || name === 'EPERM') return { answer: 'unavailable', why: `not allowed to open the group file (${name}: gpu-hookd must run as root)` };
  return { answer: 'unavailable', why: `the group file could not be asked (${name})` };
}

/** Asks the running kernel about the group file at `file` (an absolute /dev/vfio/<group>). */
export function askKernelGroupStatus(file: string): VfioGroupStatus {
  const status = addonFunction<StatusFn>('vfio_group_status', 'status');
  if (typeof status === 'string') return { answer: 'unavailable', why: status };
  const raw = status(file);
  return interpretGroupStatus(raw.errno, raw.flags);
}
