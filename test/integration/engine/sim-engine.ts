// A simulated host (zero emulator delays unless asked) with an engine on it and a temporary state
// directory, plus the host comparison every engine test makes.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../../../src/engine/engine-error';
import { TransitionEngine } from '../../../src/engine/transition-engine';
import type { EngineTimeouts } from '../../../src/engine/step-executor';
import type { HostIO } from '../../../src/host/host-io';
import { simProcessAccess } from '../../../src/sim/open-host';
import { loadScenario } from '../../../src/sim/scenarios';
import { faultCounts } from '../../../src/sim/faults';
import { waitUntil } from '../../../src/engine/wait-until';
import { spawnTracked } from '../../support/processes';
import type { Scenario } from '../../../src/sim/scenario';
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

export async function simEngine(scenario: string | Scenario, opts: { zeroDelays?: boolean; timeouts?: Partial<EngineTimeouts>; io?: (io: HostIO) => HostIO } = {}): Promise<SimEngine> {
  const temp = makeTempRoot('gpu-hookd-engine-');
  const host = await createSimHost(typeof scenario === 'string' ? loadScenario(scenario) : scenario, { dir: path.join(temp.root, 'host'), zeroDelays: opts.zeroDelays ?? true });
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
 * for good (docs/kernel-facts.md). Everything else (drivers, overrides, /dev/vfio, vtconsoles, /proc/fb,
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

/** The EngineError a transition that must fail rejects with. */
export async function failure(promise: Promise<unknown>): Promise<EngineError> {
  const e = await promise.then(
    () => assert.fail('the transition should fail'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof EngineError, String(e));
  return e;
}

const CRASH_CHILD = path.join(__dirname, 'crash-child.js');

/** Starts crash-child.js's transition and resolves once its write blocked by fault `rule` is reached;
 *  fails if the child ends first. `probeMs`: the child engine's probe timeout. */
export async function childBlockedAt(sim: SimEngine, kind: 'detach' | 'attach', rule: number, gpu: string, probeMs?: number): Promise<ChildProcess> {
  const args = [CRASH_CHILD, sim.host.root, sim.stateDir, kind, gpu, ...(probeMs === undefined ? [] : [String(probeMs)])];
  const child = spawnTracked(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  let exited = false;
  child.on('exit', () => (exited = true));
  const blocked = (): boolean => faultCounts(sim.host.root).find((c) => c.id === rule)?.fired === 1;
  await waitUntil(() => blocked() || exited, 15_000);
  if (!blocked()) {
    if (child.pid !== undefined && !exited) process.kill(child.pid, 'SIGKILL');
    assert.fail(`the child ${kind} never reached its blocked write: ${output.trim() || 'no output'}`);
  }
  return child;
}

/** SIGKILL, and resolves once the child is gone. */
export async function kill(child: ChildProcess): Promise<void> {
  const gone = new Promise((resolve) => child.on('exit', resolve));
  process.kill(child.pid as number, 'SIGKILL');
  await gone;
}
