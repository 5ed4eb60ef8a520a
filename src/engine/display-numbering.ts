// The numbers a GPU's device nodes carry (/dev/dri/card1, renderD129, /dev/fb1) are handed out by the
// kernel as drivers bind, each the lowest free one. Two GPUs given back in another order than they
// bound at boot swap them, and a desktop configured for card0 finds the other GPU. What the engine
// does about it: GPUs given back together go in the order of their numbers before the detach, and a
// GPU that comes back under other numbers is said so in one sentence. Pure functions over plain data.

/** The GPU record's view: the GPU and its device nodes before the detach (absent: not recorded). */
export interface NumberedGpu {
  gpu: string;
  displayNodes?: readonly string[];
}

/** "/dev/dri/card1" -> ["card", 1]; anything else sorts after. */
function numberOf(node: string, kind: 'card' | 'fb'): number {
  const m = (kind === 'card' ? /\/card(\d+)$/ : /\/fb(\d+)$/).exec(node);
  return m ? Number(m[1]) : Number.POSITIVE_INFINITY;
}

function lowest(nodes: readonly string[] | undefined, kind: 'card' | 'fb'): number {
  return Math.min(Number.POSITIVE_INFINITY, ...(nodes ?? []).map((n) => numberOf(n, kind)));
}

/**
 * The order to give GPUs back in so each gets the numbers it had: lowest card number first (then
 * framebuffer number), as they bound at boot; GPUs without recorded nodes last, by address.
 */
export function inBootOrder<T extends NumberedGpu>(gpus: readonly T[]): T[] {
  return [...gpus].sort(
    (a, b) =>
      lowest(a.displayNodes, 'card') - lowest(b.displayNodes, 'card') ||
      lowest(a.displayNodes, 'fb') - lowest(b.displayNodes, 'fb') ||
      a.gpu.localeCompare(b.gpu),
  );
}

const baseName = (node: string): string => node.slice(node.lastIndexOf('/') + 1);

/**
 * One sentence when a GPU came back under other numbers than it had before its detach; undefined
 * when they are the same (or nothing was recorded, or its driver makes no nodes now).
 */
export function numberingMoved(gpu: string, before: readonly string[] | undefined, now: readonly string[]): string | undefined {
  if (!before || before.length === 0 || now.length === 0) return undefined;
  const was = [...before].sort();
  const is = [...now].sort();
  if (was.length === is.length && was.every((n, i) => n === is[i])) return undefined;
  const gone = was.filter((n) => !is.includes(n)).map(baseName);
  return (
    `${gpu} came back as ${is.map(baseName).join(', ')} where it was ${was.map(baseName).join(', ')} before its detach ` +
    `(the kernel gives each GPU the lowest free numbers as its driver binds, and another GPU came back or stayed in between), ` +
    `so what is configured for ${gone.join(' or ')} now reaches another GPU or none: ` +
    `name GPUs by path (/dev/dri/by-path/pci-${gpu}-card) or reboot to get the boot numbering back`
  );
}
