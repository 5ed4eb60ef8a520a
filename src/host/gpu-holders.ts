// Processes that hold a GPU open: a process with an fd on one of the GPU's device nodes keeps its
// driver busy, and unbinding the driver then blocks in the kernel until the process lets go. Found
// through every <root>/proc/<pid>/fd link (file-holders.ts), as fuser and lsof do.
//
// An fd link names a path of the process's own root. Below a non-"/" host root (the simulated host)
// a link may name the node through that root (<root>/dev/dri/card0, a real process of a test) or as
// the host would see it (/dev/dri/card0, a scenario's process); both mean /dev/dri/card0.

import * as path from 'node:path';
import { processesHolding } from './file-holders';
import type { HostIO } from './host-io';
import { parsePciAddress } from './pci-address';

export interface GpuHolder {
  pid: number;
  /** The process's name (comm), or "?" when it exited while being read. */
  comm: string;
  /** Device nodes it holds, as absolute host paths ("/dev/dri/card0"). */
  nodes: string[];
}

/** What to look for in fd links: exact device nodes, and /dev/nvidia* as a whole. */
export interface GpuNodes {
  nodes: string[];
  /** The proprietary nvidia driver's nodes (/dev/nvidia0, nvidiactl, nvidia-modeset, nvidia-uvm...)
   *  cannot be told apart per GPU from sysfs: any of them counts. */
  nvidia: boolean;
}

/** The device nodes of these PCI functions: their DRM nodes, from sysfs and from udev's /dev/dri/by-path
 *  links, and the framebuffer devices (/dev/fbN) their drivers registered. */
export function gpuDeviceNodes(io: HostIO, addresses: readonly string[], opts: { nvidia: boolean }): GpuNodes {
  const nodes = new Set<string>();
  for (const input of addresses) {
    const address = parsePciAddress(input);
    for (const name of io.list(`sys/bus/pci/devices/${address}/drm`)) {
      if (/^(card|renderD|controlD)\d+$/.test(name)) nodes.add(`/dev/dri/${name}`);
    }
    for (const name of io.list(`sys/bus/pci/devices/${address}/graphics`)) {
      if (/^fb\d+$/.test(name)) nodes.add(`/dev/${name}`);
    }
    for (const link of io.list('dev/dri/by-path').filter((n) => n.startsWith(`pci-${address}-`))) {
      const target = io.readLink(`dev/dri/by-path/${link}`);
      if (target) nodes.add(path.posix.resolve('/dev/dri/by-path', target));
    }
  }
  return { nodes: [...nodes].sort(), nvidia: opts.nvidia };
}

/** What an fd link names, as a path of the host below `root`. */
export function hostPathOf(root: string, linkTarget: string): string {
  if (root === '/' || !path.isAbsolute(linkTarget)) return linkTarget;
  const rel = path.relative(root, linkTarget);
  return rel.startsWith('..') || path.isAbsolute(rel) ? linkTarget : `/${rel}`;
}

function isGpuNode(gpu: GpuNodes, node: string): boolean {
  return gpu.nodes.includes(node) || (gpu.nvidia && /^\/dev\/nvidia[^/]*$/.test(node));
}

/** Every process with an fd on one of the GPU's nodes, by PID. */
export function findGpuHolders(io: HostIO, gpu: GpuNodes): GpuHolder[] {
  if (gpu.nodes.length === 0 && !gpu.nvidia) return [];
  return processesHolding(io, (file) => isGpuNode(gpu, hostPathOf(io.root, file))).map((h) => ({
    pid: h.pid,
    comm: h.comm,
    nodes: [...new Set(h.files.map((f) => hostPathOf(io.root, f)))].sort(),
  }));
}

/** "Xorg (PID 845) holds /dev/dri/card0, /dev/dri/renderD128; pipewire (PID 1203) holds /dev/dri/renderD128" */
export function describeGpuHolders(holders: readonly GpuHolder[]): string {
  return holders.map((h) => `${h.comm} (PID ${h.pid}) holds ${h.nodes.join(', ')}`).join('; ');
}

/** Asks each holder to exit with SIGTERM, through the process's chosen signaller. A process already gone is fine. */
export function signalGpuHolders(processes: { signal(pid: number, signal: NodeJS.Signals): void }, holders: readonly GpuHolder[]): void {
  for (const h of holders) {
    try {
      processes.signal(h.pid, 'SIGTERM');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }
}
