// Do the simulated host's tree and its emulator's model agree? Each fact the model keeps is checked
// against what the tree shows for it (driver links both ways, driver_override, registered drivers,
// loaded modules, DRM nodes, /dev/vfio, framebuffers, vtconsoles, the firmware framebuffer, held
// groups). A host the kernel could be in answers with no disagreement; crash tests use it to prove
// that a daemon killed at any moment leaves such a host.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { KernelContext, ScenarioIndex } from './kernel-context';
import { VFIO_PCI } from './pci-binding';
import { FIRMWARE_FB_NAMES } from './scenario';
import { readScenarioOf, readState, recoverSimHost, SimPaths, withLock } from './sim-state';
import { fbClassLink, firmwareFbDevice, platformBusDevice, platformDeviceDir, vfioGroupNode, vtconClassLink, vtconDir } from './sysfs-layout';
import { Tree } from './tree';

/** Every disagreement between the host's tree and its model, one sentence each; [] when they agree. */
export function simHostDisagreements(root: string): string[] {
  const paths = new SimPaths(path.resolve(root));
  recoverSimHost(paths);
  return withLock(paths, () => {
    const tree = new Tree(paths.root);
    const k = new KernelContext(tree, new ScenarioIndex(readScenarioOf(paths)), readState(paths), Date.now());
    return [...pciDisagreements(k), ...moduleDisagreements(k), ...displayDisagreements(k), ...heldGroupDisagreements(k)];
  });
}

function readOr(tree: Tree, rel: string): string | undefined {
  return tree.present(rel) ? tree.read(rel) : undefined;
}

function linkName(tree: Tree, rel: string): string | undefined {
  return tree.isLink(rel) ? path.basename(fs.readlinkSync(tree.abs(rel))) : undefined;
}

function pciDisagreements(k: KernelContext): string[] {
  const { tree, state } = k;
  const out: string[] = [];
  for (const dev of k.scenario.devices) {
    const a = dev.address;
    const dir = k.deviceDir(a);
    // An unbind from vfio-pci waiting for its group has dropped the links while the model still names vfio-pci.
    const shown = state.unbindsWaiting.includes(a) ? undefined : state.drivers[a];
    const link = linkName(tree, `${dir}/driver`);
    if (link !== shown) out.push(`${a}: the model says driver ${shown ?? 'none'}, the tree's driver link says ${link ?? 'none'}`);
    for (const driver of state.pciDrivers) {
      const back = tree.isLink(`sys/bus/pci/drivers/${driver}/${a}`);
      if (back !== (shown === driver)) out.push(`${a}: sys/bus/pci/drivers/${driver}/${a} is ${back ? 'there' : 'missing'} though the model says driver ${shown ?? 'none'}`);
    }
    const override = readOr(tree, `${dir}/driver_override`)?.trim();
    const expected = state.overrides[a] ?? '(null)';
    if (override !== undefined && override !== expected) out.push(`${a}: driver_override reads ${override}, the model says ${expected}`);
    if (state.pending.some((p) => p.address === a) && state.drivers[a] !== undefined) out.push(`${a}: a probe is queued for a bound function`);
  }
  const drivers = tree.entries('sys/bus/pci/drivers').sort();
  const registered = [...state.pciDrivers].sort();
  if (drivers.join(' ') !== registered.join(' ')) out.push(`the tree's PCI drivers are ${drivers.join(', ')}, the model's ${registered.join(', ')}`);
  const groups = new Set(k.scenario.devices.filter((d) => d.iommuGroup !== null && state.drivers[d.address] === VFIO_PCI).map((d) => String(d.iommuGroup)));
  for (const name of tree.entries('dev/vfio').filter((n) => n !== 'vfio')) {
    if (!groups.has(name)) out.push(`dev/vfio/${name} is there though no function of group ${name} is on vfio-pci in the model`);
  }
  for (const g of groups) if (!tree.present(vfioGroupNode(g))) out.push(`dev/vfio/${g} is missing though the model has group ${g} on vfio-pci`);
  const minors = Object.values(state.drmMinors).flatMap((m) => (m.render === null ? [`card${m.card}`] : [`card${m.card}`, `renderD${m.render}`]));
  const cards = tree.entries('dev/dri').filter((n) => /^(card|renderD)\d+$/.test(n));
  if ([...cards].sort().join(' ') !== [...minors].sort().join(' ')) out.push(`dev/dri holds ${cards.join(', ') || 'no card'}, the model's DRM minors make ${minors.join(', ') || 'none'}`);
  return out;
}

function moduleDisagreements(k: KernelContext): string[] {
  const listed = (readOr(k.tree, 'proc/modules') ?? '').split('\n').filter((l) => l !== '').map((l) => l.split(' ')[0]).sort();
  const loaded = k.state.modules.filter((m) => !k.module(m)?.builtin).sort();
  return listed.join(' ') === loaded.join(' ') ? [] : [`proc/modules lists ${listed.join(', ')}, the model has ${loaded.join(', ')} loaded`];
}

function displayDisagreements(k: KernelContext): string[] {
  const { tree, state } = k;
  const out: string[] = [];
  const fbs = tree.entries('sys/class/graphics').filter((n) => /^fb\d+$/.test(n)).sort();
  const modelFbs = state.framebuffers.map((f) => `fb${f.index}`).sort();
  if (fbs.join(' ') !== modelFbs.join(' ')) out.push(`sys/class/graphics holds ${fbs.join(', ') || 'no framebuffer'}, the model ${modelFbs.join(', ') || 'none'}`);
  for (const f of state.framebuffers) {
    if (!tree.isLink(fbClassLink(f.index))) continue;
    const name = readOr(tree, `${fbClassLink(f.index)}/name`)?.trim();
    if (name !== f.name) out.push(`fb${f.index} is named ${name ?? 'nothing'}, the model says ${f.name}`);
  }
  const procFb = (readOr(tree, 'proc/fb') ?? '').split('\n').filter((l) => l !== '').sort();
  const modelProcFb = state.framebuffers.map((f) => `${f.index} ${f.name}`).sort();
  if (procFb.join('|') !== modelProcFb.join('|')) out.push(`proc/fb lists ${procFb.join('; ') || 'nothing'}, the model ${modelProcFb.join('; ') || 'nothing'}`);
  const vtcons = tree.entries('sys/class/vtconsole').sort();
  const modelVtcons = state.vtconsoles.map((v) => `vtcon${v.index}`).sort();
  if (vtcons.join(' ') !== modelVtcons.join(' ')) out.push(`sys/class/vtconsole holds ${vtcons.join(', ')}, the model ${modelVtcons.join(', ')}`);
  for (const v of state.vtconsoles) {
    const bind = readOr(tree, `${vtconDir(v.index)}/bind`)?.trim();
    const name = readOr(tree, `${vtconDir(v.index)}/name`)?.trim();
    if (bind !== (v.bound ? '1' : '0') || name !== v.name) out.push(`vtcon${v.index} reads ${name}/${bind}, the model says ${v.name}/${v.bound ? 1 : 0}`);
    if (!tree.isLink(vtconClassLink(v.index))) out.push(`vtcon${v.index} has no sys/class/vtconsole link`);
  }
  const kind = k.scenario.firmwareFramebuffer.kind;
  if (kind !== 'none' && kind in FIRMWARE_FB_NAMES) {
    const device = firmwareFbDevice(kind);
    const present = tree.isLink(platformBusDevice(device));
    const bound = tree.isLink(`${platformDeviceDir(device)}/driver`);
    const fw = state.firmwareFb ?? { present: false, bound: false };
    if (present !== fw.present || bound !== fw.bound) {
      out.push(`${device} is ${present ? 'present' : 'absent'} and ${bound ? 'bound' : 'unbound'} in the tree, ${fw.present ? 'present' : 'absent'} and ${fw.bound ? 'bound' : 'unbound'} in the model`);
    }
  }
  return out;
}

function heldGroupDisagreements(k: KernelContext): string[] {
  const out: string[] = [];
  for (const [group, h] of Object.entries(k.state.heldGroups)) {
    const fd = `proc/${h.pid}/fd/${h.fd}`;
    const target = k.tree.isLink(fd) ? fs.readlinkSync(k.tree.abs(fd)) : undefined;
    if (target !== `/dev/vfio/${group}`) out.push(`group ${group} is held by ${h.pid} in the model, but ${fd} ${target === undefined ? 'is missing' : `links to ${target}`}`);
  }
  return out;
}
