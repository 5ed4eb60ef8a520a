// How the 6.1 kernel's vtconsoles answer framebuffers coming and going and writes to vtconN/bind,
// as plain functions from one console state to the next (console-model.ts writes the result into
// the tree). fbcon draws on one framebuffer. When that one goes while others stay, fbcon stays
// registered but lets the consoles go to the dummy console (fbcon_fb_unbind); when the last one
// goes, its vtconsole vanishes. fbcon takes a registering framebuffer only when it is the one the
// consoles are mapped to at boot (con2fb_map_boot: fb0, or the boot VGA's framebuffer once that
// registered: CONFIG_FRAMEBUFFER_CONSOLE_DETECT_PRIMARY, as Debian builds it).

import { KernelError } from './kernel-context';
import { FBCON_NAME } from './scenario';
import { SimState, Vtconsole } from './sim-state';

export type ConsoleState = Pick<SimState, 'vtconsoles' | 'fbconFramebuffer' | 'fbconPrimary' | 'fbconBootMap'>;

export function lowestFree(used: number[]): number {
  let i = 0;
  while (used.includes(i)) i++;
  return i;
}

function fbconOf(s: ConsoleState): Vtconsole | undefined {
  return s.vtconsoles.find((v) => v.name === FBCON_NAME);
}

/** The console that takes over when fbcon lets go: the first other one by number. */
function fallbackOf(vtconsoles: Vtconsole[]): Vtconsole | undefined {
  return [...vtconsoles].sort((a, b) => a.index - b.index).find((v) => v.name !== FBCON_NAME);
}

/** Only `index` bound (a console binding takes the VTs from every other one). */
function bindOnly(vtconsoles: Vtconsole[], index: number): Vtconsole[] {
  return vtconsoles.map((v) => ({ ...v, bound: v.index === index }));
}

/** `from` hands the VTs to `to`; the others keep their state. */
function handOver(vtconsoles: Vtconsole[], from: Vtconsole, to: Vtconsole): Vtconsole[] {
  return vtconsoles.map((v) => (v.index === from.index ? { ...v, bound: false } : v.index === to.index ? { ...v, bound: true } : v));
}

/**
 * Framebuffer `fb` registered (fbcon built in); `bootVga`: it belongs to the boot VGA device. The
 * first such one becomes fbcon's primary and the consoles' boot mapping (fbcon_select_primary).
 * fbcon then acts only for the boot mapping's framebuffer: with no fbcon vtconsole yet it registers
 * at the lowest free vtcon number and binds; otherwise its consoles move there, and an fbcon left
 * unbound (by hand, or when its framebuffer went) takes over again (set_con2fb_map).
 */
export function framebufferRegistered(s: ConsoleState, fb: number, bootVga = false): ConsoleState {
  const primary = bootVga && (s.fbconPrimary ?? null) === null;
  const mapped: ConsoleState = primary ? { ...s, fbconPrimary: fb, fbconBootMap: fb } : s;
  if (fb !== (mapped.fbconBootMap ?? 0)) return mapped;
  const fbcon = fbconOf(mapped);
  if (!fbcon) {
    const index = lowestFree(mapped.vtconsoles.map((v) => v.index));
    return { ...mapped, vtconsoles: [...mapped.vtconsoles.map((v) => ({ ...v, bound: false })), { index, name: FBCON_NAME, bound: true }], fbconFramebuffer: fb };
  }
  return { ...mapped, vtconsoles: fbcon.bound ? mapped.vtconsoles : bindOnly(mapped.vtconsoles, fbcon.index), fbconFramebuffer: fb };
}

/** Framebuffers `gone` unregistered and `remaining` are left. */
export function framebuffersUnregistered(before: ConsoleState, gone: number[], remaining: number[]): ConsoleState {
  // The primary is forgotten with its framebuffer; the boot mapping stays as it was set.
  const s = gone.includes(before.fbconPrimary ?? -1) ? { ...before, fbconPrimary: null } : before;
  const fbcon = fbconOf(s);
  if (!fbcon) return s;
  if (remaining.length === 0) {
    const rest = s.vtconsoles.filter((v) => v !== fbcon);
    const fallback = fallbackOf(rest);
    return { ...s, vtconsoles: fallback ? rest.map((v) => (v === fallback ? { ...v, bound: true } : v)) : rest, fbconFramebuffer: null };
  }
  if (s.fbconFramebuffer === null || !gone.includes(s.fbconFramebuffer)) return s;
  const fallback = fallbackOf(s.vtconsoles);
  return { ...s, vtconsoles: fbcon.bound && fallback ? handOver(s.vtconsoles, fbcon, fallback) : s.vtconsoles, fbconFramebuffer: null };
}

/**
 * A write to vtcon<index>/bind: non-zero binds (taking over), zero hands the VTs to another console
 * (a silent no-op without one). fbcon bound again after it lost its framebuffer draws on the first
 * registered one (`framebuffers`), where the kernel mapped its consoles.
 */
export function bindWritten(s: ConsoleState, index: number, value: string, framebuffers: number[]): ConsoleState {
  const v = s.vtconsoles.find((c) => c.index === index);
  if (!v) throw new KernelError('ENOENT', `vtcon${index} does not exist`);
  // The kernel reads the value with simple_strtoul: anything not a number counts as 0.
  const wanted = (parseInt(value.trim(), 0) || 0) !== 0;
  if (wanted === v.bound) return s;
  let vtconsoles: Vtconsole[];
  if (wanted) vtconsoles = bindOnly(s.vtconsoles, index);
  else {
    const other = v.name === FBCON_NAME ? fallbackOf(s.vtconsoles) : fbconOf(s);
    if (!other) return s;
    vtconsoles = handOver(s.vtconsoles, v, other);
  }
  const fbconBound = vtconsoles.some((c) => c.name === FBCON_NAME && c.bound);
  const remapped = fbconBound && s.fbconFramebuffer === null && framebuffers.length > 0;
  return { ...s, vtconsoles, fbconFramebuffer: remapped ? Math.min(...framebuffers) : s.fbconFramebuffer };
}

/**
 * What FBIOGET_CON2FBMAP answers: the framebuffer fbcon's consoles are mapped to. Unbinding fbcon
 * by hand releases its consoles (fbcon_release_all: no map, as the lab's kernel answered); after
 * fbcon's own framebuffer went while others stayed, the kernel maps them to the first registered one.
 */
export function consoleFramebuffers(s: ConsoleState, framebuffers: number[]): number[] {
  const fbcon = fbconOf(s);
  if (framebuffers.length === 0 || !fbcon) return [];
  if (s.fbconFramebuffer === null) return [Math.min(...framebuffers)];
  return fbcon.bound ? [s.fbconFramebuffer] : [];
}
