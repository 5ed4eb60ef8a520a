// fbcon draws the text console on the GPU's framebuffer; its vtconsole is unbound before the GPU
// leaves (the dummy console takes the VTs over) and bound again when the GPU is back. vtconsole
// numbers change when fbcon unregisters with the last framebuffer and registers again, so the
// console is found by its name each time (docs/kernel-facts.md); fbcon usually re-takes the console by
// itself when the driver's framebuffer registers, and then binding it is a no-op.

import { findVtconsole, listFramebuffers, vtconsoleBindPath } from '../../host/consoles';
import { formatMs } from '../../host/host-io';
import type { StepContext, StepExecutor } from '../step-executor';
import { waitUntil } from '../wait-until';

declare module '../step-spec' {
  interface StepSpecMap {
    /** Unbind the vtconsole called `name` (fbcon's); undo binds it again, found by name. */
    'unbind-vtconsole': { name: string };
    /** Bind the vtconsole called `name` again, found by name; undo unbinds it. */
    'bind-vtconsole': { name: string };
  }
}

async function unbindByName(ctx: StepContext, name: string): Promise<void> {
  const v = findVtconsole(ctx.io, name);
  if (!v?.bound) return;
  await ctx.io.write(vtconsoleBindPath(v.index), '0', { timeoutMs: ctx.timeouts.writeMs });
}

function verifyUnbound(ctx: StepContext, name: string): void {
  const v = findVtconsole(ctx.io, name);
  // The kernel ignores the write when no other console could take the VTs over.
  if (v?.bound) throw new Error(`vtconsole "${name}" (vtcon${v.index}) is still bound: no other console took the VTs over`);
}

function verifyBound(ctx: StepContext, name: string): void {
  const v = findVtconsole(ctx.io, name);
  if (v && !v.bound) throw new Error(`vtconsole "${name}" (vtcon${v.index}) is still unbound after writing 1`);
}

/** Binds the console by name; resolves with a sentence when it is not there to bind. */
async function bindByName(ctx: StepContext, name: string): Promise<string | undefined> {
  // fbcon registers once a framebuffer exists; a driver's framebuffer may register just after its bind.
  const present = await waitUntil(() => findVtconsole(ctx.io, name) !== undefined || listFramebuffers(ctx.io).length === 0, ctx.timeouts.probeMs, ctx.signal);
  const v = findVtconsole(ctx.io, name);
  if (!v) {
    return present
      ? `vtconsole "${name}" is not there to bind: no framebuffer is registered, so the screen shows no text console until a driver with a framebuffer binds`
      : `vtconsole "${name}" did not come back within ${formatMs(ctx.timeouts.probeMs)} of the framebuffer's return`;
  }
  if (!v.bound) await ctx.io.write(vtconsoleBindPath(v.index), '1', { timeoutMs: ctx.timeouts.writeMs });
  return undefined;
}

export const unbindVtconsoleStep: StepExecutor<'unbind-vtconsole'> = {
  describe: (s) => `unbind vtconsole "${s.name}"`,
  do: (ctx, s) => unbindByName(ctx, s.name),
  async verify(ctx, s) {
    verifyUnbound(ctx, s.name);
  },
  async undo(ctx, s) {
    const missing = await bindByName(ctx, s.name);
    if (missing) ctx.log.warn({ vtconsole: s.name }, missing);
  },
  // A console that is not there was said by undo; one that is there must be bound again.
  undone: async (ctx, s) => verifyBound(ctx, s.name),
};

export const bindVtconsoleStep: StepExecutor<'bind-vtconsole'> = {
  describe: (s) => `bind vtconsole "${s.name}"`,
  do: (ctx, s) => bindByName(ctx, s.name),
  verify: async (ctx, s) => verifyBound(ctx, s.name),
  undo: (ctx, s) => unbindByName(ctx, s.name),
  undone: async (ctx, s) => verifyUnbound(ctx, s.name),
};
