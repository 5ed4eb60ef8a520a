// The host's consoles as the kernel shows them: vtconsoles (sys/class/vtconsole/vtconN), framebuffers
// (sys/class/graphics/fbN) and the firmware framebuffer's platform device (efi-, simple- or
// vesa-framebuffer.N). vtconsole numbers change when fbcon comes and goes (docs/kernel-facts.md), so a
// console is always looked up by its name.

import type { HostIO } from './host-io';
import { isPciAddress } from './pci-address';
import { isDisplayClass, VFIO_DRIVER } from './pci-device';
import { listPciAddresses, readPciClass } from './pci-discovery';

/** The name of fbcon's vtconsole: "(M)" multi-head, "(S)" single; fbcon is always "(M) frame buffer device". */
export const FBCON_CONSOLE_NAME = '(M) frame buffer device';

/** Platform drivers of firmware framebuffers; simpledrm registers as "simple-framebuffer" too. */
export const FIRMWARE_FB_DRIVERS: readonly string[] = ['efi-framebuffer', 'simple-framebuffer', 'vesa-framebuffer'];

export interface VtConsole {
  index: number;
  name: string;
  bound: boolean;
}

export interface Framebuffer {
  index: number;
  name: string;
  /** The PCI address or platform device name the framebuffer belongs to, or null. */
  device: string | null;
}

export interface FirmwareFramebuffer {
  /** "efi-framebuffer.0" */
  device: string;
  /** Bound platform driver, or null. */
  driver: string | null;
}

export function vtconsoleBindPath(index: number): string {
  return `sys/class/vtconsole/vtcon${index}/bind`;
}

export function listVtconsoles(io: HostIO): VtConsole[] {
  return io
    .list('sys/class/vtconsole')
    .map((entry) => /^vtcon(\d+)$/.exec(entry))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => {
      const index = Number(m[1]);
      return {
        index,
        name: io.readText(`sys/class/vtconsole/vtcon${index}/name`) ?? '',
        bound: io.readText(vtconsoleBindPath(index)) === '1',
      };
    })
    .sort((a, b) => a.index - b.index);
}

export function findVtconsole(io: HostIO, name: string): VtConsole | undefined {
  return listVtconsoles(io).find((v) => v.name === name);
}

export function listFramebuffers(io: HostIO): Framebuffer[] {
  return io
    .list('sys/class/graphics')
    .map((entry) => /^fb(\d+)$/.exec(entry))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({
      index: Number(m[1]),
      name: io.readText(`sys/class/graphics/fb${m[1]}/name`) ?? '',
      device: io.readLinkName(`sys/class/graphics/fb${m[1]}/device`) ?? null,
    }))
    .sort((a, b) => a.index - b.index);
}

/** Framebuffers registered by a driver of one of these PCI functions. */
export function framebuffersOf(io: HostIO, addresses: readonly string[]): Framebuffer[] {
  return listFramebuffers(io).filter((f) => f.device !== null && isPciAddress(f.device) && addresses.includes(f.device));
}

/**
 * The framebuffers among `candidates` that fbcon draws on right now: its vtconsole is bound and the
 * kernel maps a console to one of them (FBIOGET_CON2FBMAP). Where the kernel cannot be asked, every
 * candidate counts, and `unknown` says why (the console is then handed over when it need not be).
 */
export function fbconOn(io: HostIO, candidates: readonly Framebuffer[]): { on: Framebuffer[]; unknown?: string } {
  if (candidates.length === 0 || findVtconsole(io, FBCON_CONSOLE_NAME)?.bound !== true) return { on: [] };
  const map = io.consoleMap?.() ?? { answer: 'unavailable', why: 'this host cannot be asked' };
  if (map.answer === 'unavailable') return { on: [...candidates], unknown: map.why };
  return { on: candidates.filter((fb) => map.framebuffers.includes(fb.index)) };
}

/** Display-class PCI functions outside `except` bound to a driver other than vfio-pci: GPUs the host may draw on. */
export function displayDevicesOnHostDrivers(io: HostIO, except: readonly string[]): string[] {
  return listPciAddresses(io).filter((address) => {
    if (except.includes(address) || !isDisplayClass(readPciClass(io, address) ?? '')) return false;
    const driver = io.readLinkName(`sys/bus/pci/devices/${address}/driver`);
    return driver !== undefined && driver !== VFIO_DRIVER;
  });
}

export function firmwareFramebuffers(io: HostIO): FirmwareFramebuffer[] {
  return io
    .list('sys/bus/platform/devices')
    .filter((d) => FIRMWARE_FB_DRIVERS.some((kind) => d.startsWith(`${kind}.`)))
    .map((device) => ({ device, driver: io.readLinkName(`sys/bus/platform/devices/${device}/driver`) ?? null }));
}

export function findFirmwareFramebuffer(io: HostIO, device: string): FirmwareFramebuffer | undefined {
  return firmwareFramebuffers(io).find((f) => f.device === device);
}

/** sys/bus/platform/drivers/<driver>/{bind,unbind}, for a driver name checked against the known ones. */
export function platformDriverPath(driver: string, action: 'bind' | 'unbind'): string {
  if (!FIRMWARE_FB_DRIVERS.includes(driver)) throw new Error(`refusing platform driver ${JSON.stringify(driver)}: not a firmware framebuffer driver`);
  return `sys/bus/platform/drivers/${driver}/${action}`;
}
