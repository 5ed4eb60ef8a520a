// A simulated host (zero emulator delays unless asked) with an engine on it and a temporary state
// directory, plus the host comparison every engine test makes.

import { simProcessAccess } from '../../../src/sim/open-host';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TransitionEngine } from '../../../src/engine/transition-engine';
import type { EngineTimeouts } from '../../../src/engine/step-executor';
import type { HostIO } from '../../../src/host/host-io';
import { loadScenario } from '../../../src/sim/scenarios';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { snapshotHost, type HostSnapshot } from '../../../src/sim/snapshot';
import { makeTempRoot } from '../../support/temp-root';

export interface SimEngine {
  host: SimHost;
  engine: TransitionEngine;
  stateDir: string;
  dispose(): Promise<void>;
}

/** Short timeouts keep failing tests quick; the zero-delay emulator answers at once. */
export const TEST_TIMEOUTS: Partial<EngineTimeouts> = { writeMs: 500, probeMs: 500, vfioDeviceMs: 500 };

export async function simEngine(scenario: string, opts: { zeroDelays?: boolean; timeouts?: Partial<EngineTimeouts>; io?: (io: HostIO) => HostIO } = {}): Promise<SimEngine> {
  const temp = makeTempRoot('gpu-hookd-engine-');
  const host = await createSimHost(loadScenario(scenario), { dir: path.join(temp.root, 'host'), zeroDelays: opts.zeroDelays ?? true });
  const stateDir = path.join(temp.root, 'state');
  fs.mkdirSync(stateDir);
  const io = opts.io ? opts.io(host.io) : host.io;
  const engine = new TransitionEngine({ io, processes: simProcessAccess(host.io), stateDir, timeouts: { ...TEST_TIMEOUTS, ...opts.timeouts } });
  return {
    host,
    engine,
    stateDir,
    dispose: async () => {
      await host.dispose();
      temp.cleanup();
    },
  };
}

/**
 * The host is exactly as before, with the one change the real kernel makes that no driver can undo:
 * once vfio-pci has taken the boot VGA, the firmware framebuffer device (efi-framebuffer.0) is gone
 * for good (KERNEL-FACTS.md). Everything else (drivers, overrides, /dev/vfio, vtconsoles, /proc/fb,
 * DRM nodes, modules) must match.
 */
export function assertHostRestored(after: HostSnapshot, before: HostSnapshot, context = ''): void {
  const { platformFramebuffers: afterFb, ...afterRest } = after;
  const { platformFramebuffers: beforeFb, ...beforeRest } = before;
  assert.deepEqual(afterRest, beforeRest, context);
  const firmwareGone = beforeFb.filter((f) => !afterFb.some((a) => a.device === f.device));
  assert.ok(firmwareGone.every((f) => /^efi-framebuffer\./.test(f.device)), `${context}: only efi-framebuffer may vanish`);
  assert.deepEqual(afterFb, beforeFb.filter((f) => !firmwareGone.includes(f)), context);
}

export function journalFiles(stateDir: string): string[] {
  try {
    return fs.readdirSync(path.join(stateDir, 'journal'));
  } catch {
    return [];
  }
}

/** After a transition was undone (rolled back or recovered): host as before, no journal, and a GPU
 *  record only when the undone transition was an attach (the GPU is still detached). */
export function assertTransitionUndone(sim: SimEngine, kind: 'detach' | 'attach', gpu: string, before: HostSnapshot, where: string): void {
  assertHostRestored(snapshotHost(sim.host.io), before, where);
  assert.deepEqual(journalFiles(sim.stateDir), [], where);
  assert.equal(sim.engine.ledger.load(gpu) !== undefined, kind === 'attach', `${where}: the record stays only while detached`);
}
