// Framebuffers, fbcon's vtconsole and the firmware framebuffer, as the 6.1 kernel behaves
// (shared/lab/KERNEL-FACTS.md): fbcon's vtconsole vanishes with the last framebuffer and comes back
// under the lowest free vtcon number when a framebuffer registers again, bound; the firmware
// framebuffer's platform device is removed for good when a driver claims the boot VGA's aperture.

import { KernelContext, KernelError } from './kernel-context';
import { FBCON_NAME, FIRMWARE_FB_NAMES } from './scenario';
import { Vtconsole } from './sim-state';
import {
  fbClassLink,
  firmwareFbDevice,
  platformBusDevice,
  platformDeviceDir,
  platformDriverDir,
  vtconClassLink,
  vtconDir,
} from './sysfs-layout';

function lowestFree(used: number[]): number {
  let i = 0;
  while (used.includes(i)) i++;
  return i;
}

function writeProcFb(k: KernelContext): void {
  const lines = [...k.state.framebuffers].sort((a, b) => a.index - b.index).map((f) => `${f.index} ${f.name}\n`);
  k.tree.file('proc/fb', lines.join(''));
}

/** Registers a framebuffer owned by `owner` whose sysfs device directory is `ownerDir`. */
export function addFramebuffer(k: KernelContext, name: string, owner: string, ownerDir: string): void {
  const index = lowestFree(k.state.framebuffers.map((f) => f.index));
  k.state.framebuffers.push({ index, name, owner });
  const dir = `${ownerDir}/graphics/fb${index}`;
  k.tree.file(`${dir}/name`, `${name}\n`);
  k.tree.link(`${dir}/device`, ownerDir);
  k.tree.link(`${dir}/subsystem`, 'sys/class/graphics');
  k.tree.link(fbClassLink(index), dir);
  writeProcFb(k);
  if (k.scenario.fbcon && !k.booting && !fbconConsole(k)) registerFbcon(k);
}

export function removeFramebuffersOf(k: KernelContext, owner: string, ownerDir: string): void {
  const gone = k.state.framebuffers.filter((f) => f.owner === owner);
  if (gone.length === 0) return;
  k.state.framebuffers = k.state.framebuffers.filter((f) => f.owner !== owner);
  for (const f of gone) {
    k.tree.remove(fbClassLink(f.index));
    k.tree.remove(`${ownerDir}/graphics/fb${f.index}`);
  }
  writeProcFb(k);
  if (k.state.framebuffers.length === 0 && fbconConsole(k)) unregisterFbcon(k);
}

export function fbconConsole(k: KernelContext): Vtconsole | undefined {
  return k.state.vtconsoles.find((v) => v.name === FBCON_NAME);
}

/** The console that takes over when fbcon lets go: the first other one by number. */
function fallbackConsole(k: KernelContext): Vtconsole | undefined {
  return [...k.state.vtconsoles].sort((a, b) => a.index - b.index).find((v) => v.name !== FBCON_NAME);
}

export function writeVtconsole(k: KernelContext, v: Vtconsole): void {
  k.tree.file(`${vtconDir(v.index)}/name`, `${v.name}\n`);
  k.tree.file(`${vtconDir(v.index)}/bind`, v.bound ? '1\n' : '0\n');
  k.tree.link(vtconClassLink(v.index), vtconDir(v.index));
}

function setBound(k: KernelContext, v: Vtconsole, bound: boolean): void {
  v.bound = bound;
  k.tree.file(`${vtconDir(v.index)}/bind`, bound ? '1\n' : '0\n');
}

/** fbcon takes the consoles over: it registers at the lowest free vtcon number, bound. */
function registerFbcon(k: KernelContext): void {
  const v: Vtconsole = { index: lowestFree(k.state.vtconsoles.map((c) => c.index)), name: FBCON_NAME, bound: true };
  for (const other of k.state.vtconsoles) if (other.bound) setBound(k, other, false);
  k.state.vtconsoles.push(v);
  writeVtconsole(k, v);
}

function unregisterFbcon(k: KernelContext): void {
  const v = fbconConsole(k);
  if (!v) return;
  k.state.vtconsoles = k.state.vtconsoles.filter((c) => c !== v);
  k.tree.remove(vtconClassLink(v.index));
  k.tree.remove(vtconDir(v.index));
  const fallback = fallbackConsole(k);
  if (fallback && !fallback.bound) setBound(k, fallback, true);
}

/** Writing sys/class/vtconsole/vtconN/bind: non-zero binds (taking over), zero hands over. */
export function writeVtconBind(k: KernelContext, index: number, value: string): void {
  const v = k.state.vtconsoles.find((c) => c.index === index);
  if (!v) throw new KernelError('ENOENT', `vtcon${index} does not exist`);
  // The kernel reads the value with simple_strtoul: anything not a number counts as 0.
  const wanted = (parseInt(value.trim(), 0) || 0) !== 0;
  if (wanted === v.bound) return;
  if (wanted) {
    for (const other of k.state.vtconsoles) if (other !== v && other.bound) setBound(k, other, false);
    setBound(k, v, true);
    return;
  }
  // Unbinding needs another console to take the VTs over; without one it is a silent no-op.
  const other = v.name === FBCON_NAME ? fallbackConsole(k) : fbconConsole(k);
  if (!other) return;
  setBound(k, v, false);
  setBound(k, other, true);
}

// ---- the firmware framebuffer (efifb / simplefb / vesafb) ----

function firmwareFb(k: KernelContext): { device: string; driver: string; fbName: string } | null {
  const kind = k.scenario.firmwareFramebuffer.kind;
  if (kind === 'none') return null;
  return { device: firmwareFbDevice(kind), driver: kind, fbName: FIRMWARE_FB_NAMES[kind] };
}

/** Creates the platform device (boot) in the given state. */
export function createFirmwareFb(k: KernelContext, bound: boolean, withFb: boolean): void {
  const fw = firmwareFb(k);
  if (!fw) return;
  k.state.firmwareFb = { present: true, bound: false };
  k.tree.file(`${platformDeviceDir(fw.device)}/modalias`, `platform:${fw.driver}\n`);
  k.tree.link(platformBusDevice(fw.device), platformDeviceDir(fw.device));
  if (bound) bindFirmwareFbDevice(k, fw, withFb);
}

function bindFirmwareFbDevice(k: KernelContext, fw: { device: string; driver: string; fbName: string }, withFb: boolean): void {
  k.state.firmwareFb = { present: true, bound: true };
  k.tree.link(`${platformDeviceDir(fw.device)}/driver`, platformDriverDir(fw.driver));
  k.tree.link(`${platformDriverDir(fw.driver)}/${fw.device}`, platformDeviceDir(fw.device));
  if (withFb) addFramebuffer(k, fw.fbName, fw.device, platformDeviceDir(fw.device));
}

function unbindFirmwareFbDevice(k: KernelContext, fw: { device: string; driver: string }): void {
  k.state.firmwareFb = { present: k.state.firmwareFb?.present ?? false, bound: false };
  k.tree.remove(`${platformDeviceDir(fw.device)}/driver`);
  k.tree.remove(`${platformDriverDir(fw.driver)}/${fw.device}`);
  removeFramebuffersOf(k, fw.device, platformDeviceDir(fw.device));
}

/** sys/bus/platform/drivers/<kind>/{bind,unbind}. */
export function writePlatformDriver(k: KernelContext, driver: string, action: 'bind' | 'unbind', value: string): void {
  const fw = firmwareFb(k);
  const name = value.replace(/\n$/, '');
  const st = k.state.firmwareFb;
  if (!fw || fw.driver !== driver || name !== fw.device || !st?.present) {
    throw new KernelError('ENODEV', `no platform device ${name} for ${driver}`);
  }
  if (action === 'bind') {
    if (st.bound) throw new KernelError('EBUSY', `${name} is already bound`);
    bindFirmwareFbDevice(k, fw, true);
  } else {
    if (!st.bound) throw new KernelError('ENODEV', `${name} is not bound to ${driver}`);
    unbindFirmwareFbDevice(k, fw);
  }
}

/**
 * A driver claimed the boot VGA's aperture (vfio-pci since 5.x/6.0 via
 * aperture_remove_conflicting_pci_devices, or a DRM driver): sysfb unregisters the firmware
 * framebuffer's platform device. It never comes back until reboot.
 */
export function removeFirmwareFb(k: KernelContext): void {
  const fw = firmwareFb(k);
  const st = k.state.firmwareFb;
  if (!fw || !st?.present) return;
  if (st.bound) unbindFirmwareFbDevice(k, fw);
  k.state.firmwareFb = { present: false, bound: false };
  k.tree.remove(platformBusDevice(fw.device));
  k.tree.remove(platformDeviceDir(fw.device));
}
