// systemd's AllowedCPUs on the bus is an `ay`: byte i, bit j stands for CPU 8*i + j (the layout of
// the kernel's cpu_set_t, as systemd's cpu_set_to_dbus writes it). An empty array means "no
// restriction": every CPU.

import { MAX_CPU } from './cpu-list';

/** The `ay` bytes for a CPU set; [] for the empty set, which systemd reads as "all CPUs". */
export function allowedCpusMask(cpus: readonly number[]): number[] {
  if (cpus.length === 0) return [];
  const highest = Math.max(...cpus);
  const bytes = new Array<number>(Math.floor(highest / 8) + 1).fill(0);
  for (const cpu of cpus) {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu > MAX_CPU) throw new RangeError(`CPU ${cpu} cannot be put in a CPU mask`);
    bytes[cpu >> 3] |= 1 << (cpu & 7);
  }
  return bytes;
}

/** The CPUs set in an `ay` mask, ascending; [] for an empty mask ("all CPUs"). */
export function cpusOfMask(mask: ArrayLike<number>): number[] {
  const cpus: number[] = [];
  for (let i = 0; i < mask.length; i++) {
    for (let bit = 0; bit < 8; bit++) if (mask[i] & (1 << bit)) cpus.push(i * 8 + bit);
  }
  return cpus;
}
