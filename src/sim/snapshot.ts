// The host state that a GPU transition may change, as plain JSON, read only through HostIO so it
// works the same on the simulated host, on the lab's real kernel and on a real host. Tests compare
// snapshots to prove "the host is exactly as before"; vtconsoles are keyed by name and
// framebuffers by name and device because their numbers may legitimately change.

import { HostIO } from '../host/host-io';

export interface HostSnapshot {
  pciDevices: Record<string, { driver: string | null; override: string | null }>;
  /** dev/vfio entries ("vfio", group numbers). */
  vfio: string[];
  vtconsoles: { name: string; bind: boolean }[];
  framebuffers: { name: string; device: string | null }[];
  /** Firmware framebuffer platform devices (efi-/simple-/vesa-framebuffer.N) and their drivers. */
  platformFramebuffers: { device: string; driver: string | null }[];
  /** dev/dri/by-path entries ("pci-0000:01:00.0-card"): udev makes them, so a host without udev has none. */
  drm: string[];
  /** DRM device nodes in dev/dri ("card0", "renderD128"), which the kernel makes itself (devtmpfs). */
  dri: string[];
  modules: string[];
}

export function snapshotHost(io: HostIO): HostSnapshot {
  const pciDevices: HostSnapshot['pciDevices'] = {};
  for (const address of io.list('sys/bus/pci/devices')) {
    const base = `sys/bus/pci/devices/${address}`;
    const override = io.readText(`${base}/driver_override`);
    pciDevices[address] = {
      driver: io.readLinkName(`${base}/driver`) ?? null,
      override: override === undefined || override === '(null)' || override === '' ? null : override,
    };
  }
  const vtconsoles = io
    .list('sys/class/vtconsole')
    .map((v) => ({ name: io.readText(`sys/class/vtconsole/${v}/name`) ?? '', bind: io.readText(`sys/class/vtconsole/${v}/bind`) === '1' }))
    .sort((a, b) => a.name.localeCompare(b.name) || Number(a.bind) - Number(b.bind));
  return {
    pciDevices,
    vfio: io.list('dev/vfio'),
    vtconsoles,
    framebuffers: framebuffers(io),
    platformFramebuffers: io
      .list('sys/bus/platform/devices')
      .filter((d) => /framebuffer/i.test(d))
      .map((device) => ({ device, driver: io.readLinkName(`sys/bus/platform/devices/${device}/driver`) ?? null })),
    drm: io.list('dev/dri/by-path'),
    dri: io
      .list('dev/dri')
      .filter((n) => /^(card|renderD)\d+$/.test(n))
      .sort(),
    modules: (io.readText('proc/modules') ?? '')
      .split('\n')
      .map((line) => line.split(' ')[0])
      .filter((m) => m !== '')
      .sort(),
  };
}

function framebuffers(io: HostIO): HostSnapshot['framebuffers'] {
  const fromSysfs = io
    .list('sys/class/graphics')
    .filter((f) => /^fb\d+$/.test(f))
    .map((f) => ({ name: io.readText(`sys/class/graphics/${f}/name`) ?? '', device: io.readLinkName(`sys/class/graphics/${f}/device`) ?? null }));
  const list = fromSysfs.length
    ? fromSysfs
    : (io.readText('proc/fb') ?? '')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => ({ name: l.replace(/^\d+\s+/, ''), device: null }));
  return list.sort((a, b) => a.name.localeCompare(b.name) || String(a.device).localeCompare(String(b.device)));
}
