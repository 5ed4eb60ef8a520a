// Kernel modules as modprobe sees them: loading pulls dependencies first and "softdep post"
// modules after, registers the module's PCI drivers and probes the unbound devices they match
// (respecting driver_override); unloading refuses while the module is used.

import { ModuleError } from '../host/host-io';
import { KernelContext } from './kernel-context';
import { attach, unbind, VFIO_PCI } from './pci-binding';
import { parseIdPattern, type PciIdEntry } from './pci-id-match';
import { ModuleSpec } from './scenario';
import { moduleDir, pciDriverDir } from './sysfs-layout';

function holdersOf(k: KernelContext, name: string): string[] {
  return k.state.modules.filter((m) => k.module(m)?.deps.includes(name));
}

function refcount(k: KernelContext, m: ModuleSpec): number {
  return m.refcnt + holdersOf(k, m.name).length;
}

/** Rewrites proc/modules and the refcnt/holders of every loaded module from the state. */
function writeModuleTables(k: KernelContext): void {
  const lines: string[] = [];
  for (const name of k.state.modules) {
    const m = k.module(name);
    if (!m || m.builtin) continue;
    const holders = holdersOf(k, name);
    k.tree.file(`${moduleDir(name)}/refcnt`, `${refcount(k, m)}\n`);
    k.tree.remove(`${moduleDir(name)}/holders`);
    k.tree.dir(`${moduleDir(name)}/holders`);
    for (const h of holders) k.tree.link(`${moduleDir(name)}/holders/${h}`, moduleDir(h));
    const usedBy = holders.length ? `${holders.join(',')},` : '-';
    lines.push(`${name} ${moduleSize(name)} ${refcount(k, m)} ${usedBy} Live 0x0000000000000000\n`);
  }
  k.tree.file('proc/modules', lines.reverse().join(''));
}

function moduleSize(name: string): number {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 97;
  return 16384 + h * 4096;
}

/** Makes the module's drivers visible and registered, without probing (boot replay uses this). */
function registerModule(k: KernelContext, m: ModuleSpec): void {
  k.state.modules.push(m.name);
  if (!m.builtin) {
    k.tree.file(`${moduleDir(m.name)}/initstate`, 'live\n');
    k.tree.dir(`${moduleDir(m.name)}/holders`);
  }
  for (const d of m.drivers) {
    const dir = pciDriverDir(d.name);
    for (const f of ['bind', 'unbind', 'new_id', 'remove_id', 'uevent']) k.tree.file(`${dir}/${f}`, '');
    if (!m.builtin) {
      k.tree.link(`${dir}/module`, moduleDir(m.name));
      k.tree.link(`${moduleDir(m.name)}/drivers/pci:${d.name}`, dir);
    }
    k.state.pciDrivers.push(d.name);
    // vfio_pci_init adds the ids= of its command line as dynamic ids (pci_add_dynid).
    if (d.name === VFIO_PCI && k.scenario.vfioIds.length > 0) {
      k.state.dynIds[d.name] = k.scenario.vfioIds.map((id) => parseIdPattern(id) as PciIdEntry);
    }
  }
  if (m.name === 'vfio') k.tree.file('dev/vfio/vfio', '');
}

/** Boot: modules the scenario says are loaded, in dependency order, without probing. */
export function bootModules(k: KernelContext): void {
  const visit = (m: ModuleSpec) => {
    if (k.state.modules.includes(m.name)) return;
    for (const dep of m.deps) visit(k.module(dep) as ModuleSpec);
    registerModule(k, m);
  };
  for (const m of k.scenario.modules) if (m.loaded) visit(m);
  writeModuleTables(k);
}

export function loadModule(k: KernelContext, requested: string): void {
  const m = k.module(requested);
  if (!m) {
    throw new ModuleError(requested, 'load', `module ${requested} not found in directory /lib/modules/${k.scenario.kernel.release}`, 'ENOENT');
  }
  const loadOne = (mod: ModuleSpec) => {
    if (k.state.modules.includes(mod.name)) return;
    for (const dep of mod.deps) loadOne(k.module(dep) as ModuleSpec);
    registerModule(k, mod);
    // driver_register -> driver_attach: every unbound device the new driver matches is probed.
    for (const d of mod.drivers) for (const dev of k.scenario.devices) attach(k, dev.address, d.name);
    for (const post of mod.softdepsPost) loadOne(k.module(post) as ModuleSpec);
  };
  loadOne(m);
  writeModuleTables(k);
}

export function unloadModule(k: KernelContext, requested: string): void {
  const m = k.module(requested);
  if (!m || !k.state.modules.includes(m.name)) {
    throw new ModuleError(requested, 'unload', `Module ${requested} is not currently loaded`, 'ENOENT');
  }
  if (m.builtin) throw new ModuleError(requested, 'unload', `Module ${m.name} is builtin`, 'EPERM');
  const holders = holdersOf(k, m.name);
  if (holders.length) throw new ModuleError(requested, 'unload', `Module ${m.name} is in use by: ${holders.join(' ')}`, 'EBUSY');
  if (m.refcnt > 0) throw new ModuleError(requested, 'unload', `Module ${m.name} is in use`, 'EBUSY');
  const driverNames = m.drivers.map((d) => d.name);
  const bound = Object.entries(k.state.drivers).filter(([, d]) => driverNames.includes(d)).map(([a]) => a);
  if (bound.length) {
    throw new ModuleError(requested, 'unload', `Module ${m.name} is in use by device ${bound.join(', ')}`, 'EBUSY');
  }
  removeModule(k, m);
  // modprobe -r also removes the dependencies nothing else uses any more.
  for (const dep of m.deps) {
    const d = k.module(dep);
    if (d && !d.builtin && k.state.modules.includes(d.name) && isUnused(k, d)) removeModule(k, d);
  }
  writeModuleTables(k);
}

function isUnused(k: KernelContext, m: ModuleSpec): boolean {
  const driverNames = m.drivers.map((d) => d.name);
  return holdersOf(k, m.name).length === 0 && m.refcnt === 0 && !Object.values(k.state.drivers).some((d) => driverNames.includes(d));
}

function removeModule(k: KernelContext, m: ModuleSpec): void {
  for (const d of m.drivers) {
    for (const dev of k.scenario.devices) if (k.state.drivers[dev.address] === d.name) unbind(k, dev);
    k.tree.remove(pciDriverDir(d.name));
    k.state.pciDrivers = k.state.pciDrivers.filter((x) => x !== d.name);
    delete k.state.dynIds[d.name];
    k.state.pending = k.state.pending.filter((p) => p.driver !== d.name);
  }
  k.state.modules = k.state.modules.filter((x) => x !== m.name);
  k.tree.remove(moduleDir(m.name));
  if (m.name === 'vfio') k.tree.remove('dev/vfio/vfio');
}
