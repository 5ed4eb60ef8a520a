// Framebuffers, fbcon's vtconsole and the firmware framebuffer, as the 6.1 kernel behaves
// (docs/kernel-facts.md): what the vtconsoles do is decided by
// vtconsole-rules.ts over plain data and written into the tree here; the firmware framebuffer's
// platform device is removed for good when a driver claims the boot VGA's aperture.

import { KernelContext, KernelError } from './kernel-context';
import { FIRMWARE_FB_NAMES } from './scenario';
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
import { bindWritten, ConsoleState, framebufferRegistered, framebuffersUnregistered, lowestFree } from './vtconsole-rules';

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
  if (k.scenario.fbcon && !k.booting) applyConsoles(k, framebufferRegistered(k.state, index, k.device(owner)?.bootVga === true));
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
  const remaining = k.state.framebuffers.map((f) => f.index);
  applyConsoles(k, framebuffersUnregistered(k.state, gone.map((f) => f.index), remaining));
}

export function writeVtconsole(k: KernelContext, v: Vtconsole): void {
  k.tree.file(`${vtconDir(v.index)}/name`, `${v.name}\n`);
  k.tree.file(`${vtconDir(v.index)}/bind`, v.bound ? '1\n' : '0\n');
  k.tree.link(vtconClassLink(v.index), vtconDir(v.index));
}

/** Makes the tree show `next`: vtconsoles that vanished, appeared or changed binding. */
function applyConsoles(k: KernelContext, next: ConsoleState): void {
  const before = new Map(k.state.vtconsoles.map((v) => [v.index, v]));
  for (const v of k.state.vtconsoles) {
    if (!next.vtconsoles.some((n) => n.index === v.index)) {
      k.tree.remove(vtconClassLink(v.index));
      k.tree.remove(vtconDir(v.index));
    }
  }
  for (const v of next.vtconsoles) {
    const old = before.get(v.index);
    if (!old || old.name !== v.name) writeVtconsole(k, v);
    else if (old.bound !== v.bound) k.tree.file(`${vtconDir(v.index)}/bind`, v.bound ? '1\n' : '0\n');
  }
  k.state.vtconsoles = next.vtconsoles;
  k.state.fbconFramebuffer = next.fbconFramebuffer;
  k.state.fbconPrimary = next.fbconPrimary;
  k.state.fbconBootMap = next.fbconBootMap;
}

/** Writing sys/class/vtconsole/vtconN/bind. */
export function writeVtconBind(k: KernelContext, index: number, value: string): void {
  applyConsoles(k, bindWritten(k.state, index, value, k.state.framebuffers.map((f) => f.index)));
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
