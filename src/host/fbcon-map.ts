// Which framebuffers fbcon draws on, asked of the kernel: FBIOGET_CON2FBMAP for every console,
// through the project's addon (native/fbcon-map). With two GPUs each registering a framebuffer,
// "fbcon is bound" says nothing about whose screen the console is on; only this map does. Only
// HostIO calls this: it is kernel I/O like any sysfs read.

import { addonFunction } from './native-addon';
import { ERRNO_NAMES } from './vfio-group-status';

export type ConsoleMap =
  /** fb numbers that at least one console is mapped to, ascending ([] when none). */
  | { answer: 'map'; framebuffers: number[] }
  /** The kernel could not be asked here; `why` is a phrase. */
  | { answer: 'unavailable'; why: string };

type MapFn = (file: string) => { errno: number; framebuffers: number[] };

/** Maps the addon's raw answer (one fb number per console, -1 for none); pure, for tests without a kernel. */
export function interpretConsoleMap(errno: number, perConsole: readonly number[]): ConsoleMap {
  if (errno === 0) return { answer: 'map', framebuffers: [...new Set(perConsole.filter((fb) => fb >= 0))].sort((a, b) => a - b) };
  const name = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
  if (name === 'EACCES' || name === 'EPERM') return { answer: 'unavailable', why: `not allowed to open the framebuffer device (${name}: gpu-hookd must run as root)` };
  return { answer: 'unavailable', why: `the framebuffer device could not be asked for fbcon's map (${name})` };
}

/** Asks the running kernel through the framebuffer device `file` (an absolute /dev/fbN). */
export function askKernelConsoleMap(file: string): ConsoleMap {
  const map = addonFunction<MapFn>('fbcon_map', 'map');
  if (typeof map === 'string') return { answer: 'unavailable', why: map };
  const raw = map(file);
  return interpretConsoleMap(raw.errno, raw.framebuffers);
}
