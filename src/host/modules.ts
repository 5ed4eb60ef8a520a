// Kernel modules as the host shows them: which are loaded, which driver comes from which module,
// and whether a module is built into the kernel or can be loaded from lib/modules.

import * as os from 'node:os';
import type { HostIO } from './host-io';

/** Module names are written with "_" in /proc/modules and with "-" or "_" elsewhere. */
export function normalizeModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

/** Names of the loaded modules, from proc/modules (first column). */
export function loadedModules(io: HostIO): Set<string> {
  const text = io.readText('proc/modules') ?? '';
  return new Set(
    text
      .split('\n')
      .map((line) => line.split(' ')[0])
      .filter((name) => name.length > 0),
  );
}

export function isModuleLoaded(io: HostIO, name: string): boolean {
  const mod = normalizeModuleName(name);
  // initstate exists only for modules loaded at run time; sys/module/<m> alone may be a built-in's parameters.
  return loadedModules(io).has(mod) || io.exists(`sys/module/${mod}/initstate`);
}

/** The module providing a PCI driver, or null when the driver is built in (no module link). */
export function pciDriverModule(io: HostIO, driver: string): string | null {
  return io.readLinkName(`sys/bus/pci/drivers/${driver}/module`) ?? null;
}

/** True when the PCI driver is registered now (its module is loaded, or it is built in). */
export function isPciDriverRegistered(io: HostIO, driver: string): boolean {
  return io.exists(`sys/bus/pci/drivers/${driver}`);
}

/** The release of the kernel behind the root. Only the real root may fall back to this process's
 *  kernel: a simulated tree that does not say its release has none. */
export function kernelRelease(io: HostIO): string | null {
  const fromProc = io.readText('proc/sys/kernel/osrelease');
  if (fromProc) return fromProc;
  return io.root === '/' ? os.release() : null;
}

export interface ModuleAvailability {
  /** Listed in lib/modules/<release>/modules.builtin; null when that file cannot be read. */
  builtIn: boolean | null;
  /** Listed in lib/modules/<release>/modules.dep (modprobe can load it); null when unreadable. */
  loadable: boolean | null;
}

/** Whether `name` is built into the kernel or loadable, from the module lists of the root's kernel. */
export function moduleAvailability(io: HostIO, name: string): ModuleAvailability {
  const release = kernelRelease(io);
  if (!release || release.includes('/')) return { builtIn: null, loadable: null };
  const dir = `lib/modules/${release}`;
  const wanted = normalizeModuleName(name);
  return {
    builtIn: listsModule(io.readText(`${dir}/modules.builtin`), wanted),
    loadable: listsModule(io.readText(`${dir}/modules.dep`), wanted),
  };
}

/** Whether a modules.builtin / modules.dep text lists the module: lines start with its path,
 *  e.g. "kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/vfio.ko.xz". */
export function listsModule(text: string | undefined, module: string): boolean | null {
  if (text === undefined) return null;
  return text.split('\n').some((line) => {
    const file = line.split(':')[0].trim();
    const base = file.slice(file.lastIndexOf('/') + 1).replace(/\.ko(\.[a-z0-9]+)?$/, '');
    return base.length > 0 && normalizeModuleName(base) === module;
  });
}

/** True when the PCI driver's module uses the DRM core (sys/module/drm/holders lists it): binding a
 *  display function then registers a DRM device (/dev/dri/cardN). False for built-in drivers and for
 *  drivers whose DRM part is another module (nvidia, virtio-pci). */
export function isDrmDriver(io: HostIO, driver: string): boolean {
  const module = pciDriverModule(io, driver);
  return module !== null && io.exists(`sys/module/drm/holders/${module}`);
}

/** The DRM card nodes the kernel registered for a PCI function (sys/bus/pci/devices/<addr>/drm/cardN). */
export function drmCardsOf(io: HostIO, address: string): string[] {
  return io.list(`sys/bus/pci/devices/${address}/drm`).filter((n) => /^card\d+$/.test(n));
}
