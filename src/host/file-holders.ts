// Which processes hold a device file open: the kernel tells no one who keeps a vfio group or a DRM
// node busy, but every open file of every process is a symlink under /proc/<pid>/fd. A user needs
// the PID and the command name to know what to stop ("device still in use by 2817/qemu-system-x86").

import type { HostIO } from './host-io';

export interface FileHolder {
  pid: number;
  /** The process's comm (at most 15 characters: "qemu-system-x86"), or "?" when it exited meanwhile. */
  comm: string;
  /** The held files, as the fd links read ("/dev/vfio/4"). */
  files: string[];
}

/** Every process with an open file whose path `matches`, by PID. Processes that exit meanwhile or
 *  whose fds this process may not read are skipped: the scan never fails. */
export function processesHolding(io: HostIO, matches: (file: string) => boolean): FileHolder[] {
  const holders: FileHolder[] = [];
  for (const entry of io.list('proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const files = new Set<string>();
    for (const fd of tolerant(() => io.list(`proc/${entry}/fd`), [])) {
      const target = tolerant(() => io.readLink(`proc/${entry}/fd/${fd}`), undefined);
      if (target !== undefined && matches(target)) files.add(target);
    }
    if (files.size === 0) continue;
    const comm = tolerant(() => io.readText(`proc/${entry}/comm`), undefined) ?? '?';
    holders.push({ pid: Number(entry), comm, files: [...files].sort() });
  }
  return holders.sort((a, b) => a.pid - b.pid);
}

/**
 * Processes holding /dev/vfio/<group>: a VM's QEMU keeps it open as long as it runs. A link reads
 * the path as this process would reach the file: a QEMU chrooted into a directory with /dev bound
 * into it shows "<dir>/dev/vfio/<group>", so any path ending in /dev/vfio/<group> counts.
 */
export function vfioGroupHolders(io: HostIO, group: string): FileHolder[] {
  const node = `/dev/vfio/${group}`;
  return processesHolding(io, (file) => file.endsWith(node));
}

/** "2817/qemu-system-x86" or "2817/qemu-system-x86, 3001/vfiotest". */
export function describeHolders(holders: readonly FileHolder[]): string {
  return holders.map((h) => `${h.pid}/${h.comm}`).join(', ');
}

function tolerant<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}
