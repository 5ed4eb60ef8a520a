// Unloading the GPU vendor's driver modules (opt-in) and loading them again. Each module is
// unloaded in the order given (dependents first) only while loaded; a busy one fails the step,
// naming what uses it. vfio modules are never unloaded: other VMs may be using them.

import { ModuleError } from '../../host/host-io';
import { isModuleLoaded, normalizeModuleName } from '../../host/modules';
import { StepError } from '../engine-error';
import type { StepContext, StepExecutor } from '../step-executor';

declare module '../step-spec' {
  interface StepSpecMap {
    /** Unload `modules` in this order (dependents first); undo loads them back in reverse. */
    'unload-modules': { modules: string[] };
    /** Load `modules` (given in unload order) back, in reverse; undo unloads them. */
    'load-modules': { modules: string[] };
  }
}

function checked(modules: readonly string[]): string[] {
  return modules.map((m) => {
    const name = normalizeModuleName(m);
    if (!/^[A-Za-z0-9_]{1,64}$/.test(name)) throw new Error(`refusing kernel module name ${JSON.stringify(m)}`);
    if (name.startsWith('vfio')) throw new Error(`refusing to unload or load ${name}: vfio modules stay loaded for every VM`);
    return name;
  });
}

/** "refcount 2, used by nvidia_modeset, nvidia_uvm" from sys/module/<m>. */
function usersOf(ctx: StepContext, module: string): string {
  const refcnt = ctx.io.readText(`sys/module/${module}/refcnt`);
  const holders = ctx.io.list(`sys/module/${module}/holders`);
  const parts = [refcnt !== undefined ? `refcount ${refcnt}` : '', holders.length ? `used by ${holders.join(', ')}` : ''].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

async function unloadAll(ctx: StepContext, modules: readonly string[]): Promise<void> {
  for (const m of checked(modules)) {
    if (!isModuleLoaded(ctx.io, m)) continue;
    try {
      await ctx.io.unloadModule(m, { timeoutMs: ctx.timeouts.moduleMs });
    } catch (e) {
      if (!(e instanceof ModuleError)) throw e;
      throw new StepError(
        e.code === 'EBUSY' ? 'Busy' : 'Failed',
        `kernel module ${m} could not be unloaded${usersOf(ctx, m)}: ${e.detail}`,
        e.code === 'EBUSY' ? `stop what uses it (lsmod and "fuser -v /dev/dri/* /dev/nvidia*" name it), or set unloadModules to false` : 'check dmesg for why',
      );
    }
  }
}

async function loadAll(ctx: StepContext, modules: readonly string[]): Promise<void> {
  for (const m of checked(modules).reverse()) {
    if (!isModuleLoaded(ctx.io, m)) await ctx.io.loadModule(m, { timeoutMs: ctx.timeouts.moduleMs });
  }
}

function verifyLoaded(ctx: StepContext, modules: readonly string[], wanted: boolean): void {
  const wrong = checked(modules).filter((m) => isModuleLoaded(ctx.io, m) !== wanted);
  if (wrong.length > 0) throw new Error(`kernel module${wrong.length === 1 ? '' : 's'} ${wrong.join(', ')} ${wanted ? 'did not load' : 'is still loaded'}`);
}

export const unloadModulesStep: StepExecutor<'unload-modules'> = {
  describe: (s) => `unload kernel module${s.modules.length === 1 ? '' : 's'} ${s.modules.join(', ')}`,
  do: (ctx, s) => unloadAll(ctx, s.modules),
  async verify(ctx, s) {
    verifyLoaded(ctx, s.modules, false);
  },
  undo: (ctx, s) => loadAll(ctx, s.modules),
  undone: async (ctx, s) => verifyLoaded(ctx, s.modules, true),
};

export const loadModulesStep: StepExecutor<'load-modules'> = {
  describe: (s) => `load kernel module${s.modules.length === 1 ? '' : 's'} ${[...s.modules].reverse().join(', ')}`,
  do: (ctx, s) => loadAll(ctx, s.modules),
  async verify(ctx, s) {
    verifyLoaded(ctx, s.modules, true);
  },
  undo: (ctx, s) => unloadAll(ctx, s.modules),
  undone: async (ctx, s) => verifyLoaded(ctx, s.modules, false),
};
