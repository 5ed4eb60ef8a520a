// The host state that a GPU transition may change, as plain JSON, read only through HostIO so it
// works the same on the simulated host, on the lab's real kernel and on a real host. Tests compare
// snapshots to prove "the host is exactly as before"; vtconsoles are keyed by name (their numbers
// change as fbcon comes and goes). DRM nodes and framebuffers are listed with the device each belongs
// to: a desktop configured for card0 or fb0 finds another GPU when two GPUs come back in another order.

import { HostIO } from '../host/host-io';

export interface HostSnapshot {
  pciDevices: Record<string, { driver: string | null; override: string | null }>;
  /** dev/vfio entries ("vfio", group numbers). */
  vfio: string[];
  vtconsoles: { name: string; bind: boolean }[];
  /** Registered framebuffers by number: "fb0" and the PCI address or platform device it belongs to. */
  framebuffers: { fb: number; name: string; device: string | null }[];
  /** The framebuffers fbcon's consoles are mapped to (FBIOGET_CON2FBMAP); null where the kernel cannot be asked. */
  fbconMap: number[] | null;
  /** Firmware framebuffer platform devices (efi-/simple-/vesa-framebuffer.N) and their drivers. */
  platformFramebuffers: { device: string; driver: string | null }[];
  /** dev/dri/by-path entries ("pci-0000:01:00.0-card"): udev makes them, so a host without udev has none. */
  drm: string[];
  /** DRM device nodes in dev/dri ("card0", "renderD128"), which the kernel makes itself (devtmpfs), and
   *  the PCI address each belongs to (sys/class/drm/<node>/device). */
  dri: { node: string; device: string | null }[];
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
    fbconMap: consoleMapOf(io),
    platformFramebuffers: io
      .list('sys/bus/platform/devices')
      .filter((d) => /framebuffer/i.test(d))
      .map((device) => ({ device, driver: io.readLinkName(`sys/bus/platform/devices/${device}/driver`) ?? null })),
    drm: io.list('dev/dri/by-path'),
    dri: io
      .list('dev/dri')
      .filter((n) => /^(card|renderD)\d+$/.test(n))
      .map((node) => ({ node, device: io.readLinkName(`sys/class/drm/${node}/device`) ?? null }))
      .sort((a, b) => a.node.localeCompare(b.node, 'en', { numeric: true })),
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
    .map((f) => ({ fb: Number(f.slice(2)), name: io.readText(`sys/class/graphics/${f}/name`) ?? '', device: io.readLinkName(`sys/class/graphics/${f}/device`) ?? null }));
  const list = fromSysfs.length
    ? fromSysfs
    : (io.readText('proc/fb') ?? '')
        .split('\n')
        .map((l) => /^(\d+)\s+(.*)$/.exec(l.trim()))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ fb: Number(m[1]), name: m[2], device: null }));
  return list.sort((a, b) => a.fb - b.fb);
}

function consoleMapOf(io: HostIO): number[] | null {
  const map = io.consoleMap?.();
  return map?.answer === 'map' ? map.framebuffers : null;
}
