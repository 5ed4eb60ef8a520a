// After a crash: every journal left in the state directory is a transition that did not finish.
// Its steps up to the one in flight are undone in reverse (each undo reads the kernel first, so a
// step that never ran or half ran is handled), which returns the host to where it was before.
// A function the kernel may still be unbinding from vfio-pci (left-to-kernel.ts) is left alone while
// its group is held: reading or writing it would block until the VM lets go.

import type { HostIO } from '../host/host-io';
import type { HostServices } from '../host/host-services';
import { currentBootId } from './device-state';
import { messageOf } from './engine-error';
import { GpuLedger } from './gpu-ledger';
import { listDevices, unbindsStillWaiting } from './left-to-kernel';
import { readJournals, type TransitionKind } from './journal';
import { removeFileDurable } from './atomic-file';
import { fromEarlierBoot, undoCovered } from './plan-journal';
import type { StepProgress, StepRecord } from './plan-runner';
import { DEFAULT_TIMEOUTS, silentLog, type EngineLog, type EngineTimeouts, type StepRegistry } from './step-executor';
import { builtinStepRegistry } from './steps/builtin-steps';

export interface RecoveredTransition {
  journal: string;
  /** restored: undone, journal removed; stale: written before the last reboot, nothing to undo;
   *  failed: an undo failed, journal kept; unreadable: not a journal we can trust, kept. */
  outcome: 'restored' | 'stale' | 'failed' | 'unreadable';
  id?: string;
  kind?: TransitionKind;
  gpu?: string;
  owner?: string;
  undone: StepRecord[];
  /** One sentence, for failed and unreadable. */
  error?: string;
  /** Functions left alone because the kernel is still unbinding them from vfio-pci (left-to-kernel.ts). */
  leftToKernel?: string[];
}

export interface RecoveryReport {
  transitions: RecoveredTransition[];
}

export interface RecoveryOptions {
  registry?: StepRegistry;
  log?: EngineLog;
  timeouts?: Partial<EngineTimeouts>;
  /** systemd and logind, for undoing the steps of a single-GPU handover. */
  services?: HostServices;
  onStep?: (progress: StepProgress & { gpu: string; transition: string }) => void;
  /** The ledger that learns what was removed and what stays half-way; default: one of its own. */
  ledger?: GpuLedger;
}

export async function recoverInterruptedTransition(stateDir: string, io: HostIO, opts: RecoveryOptions = {}): Promise<RecoveryReport> {
  const registry = opts.registry ?? builtinStepRegistry();
  const log = opts.log ?? silentLog;
  const ctx = { io, log, timeouts: { ...DEFAULT_TIMEOUTS, ...opts.timeouts }, services: opts.services };
  const ledger = opts.ledger ?? new GpuLedger(stateDir);
  const bootId = currentBootId(io);
  const transitions: RecoveredTransition[] = [];

  for (const found of readJournals(stateDir)) {
    if ('error' in found) {
      const error =
        `the journal ${found.file} cannot be read (${found.error}), so its transition was not undone; ` +
        `check the GPU's drivers with gpu-hookctl list, fix them by hand and delete the file`;
      log.error({ journal: found.file }, error);
      transitions.push({ journal: found.file, outcome: 'unreadable', undone: [], error });
      continue;
    }
    const j = found.entry;
    const base = { journal: found.file, id: j.id, kind: j.kind, gpu: j.gpu, owner: j.owner };
    if (fromEarlierBoot(j, bootId)) {
      // The kernel state it describes is gone with the reboot; undoing it now could undo a boot-time setup.
      await removeFileDurable(found.file);
      if (j.kind === 'detach' && j.createdRecord) await ledger.remove(j.gpu);
      log.warn(base, `interrupted ${j.kind} of ${j.gpu} dates from before the last reboot: nothing to undo`);
      transitions.push({ ...base, outcome: 'stale', undone: [] });
      continue;
    }

    const leftToKernel = new Set(unbindsStillWaiting(io, j.plan.slice(0, j.inFlight + 1)));
    const { undone, failures } = await undoCovered(j.plan, j.inFlight, {
      ctx,
      registry,
      leftToKernel,
      emit: (p) => opts.onStep?.({ ...p, gpu: j.gpu, transition: j.id }),
    });
    if (failures.length === 0 && leftToKernel.size === 0) {
      if (j.kind === 'detach' && j.createdRecord) await ledger.remove(j.gpu);
      await removeFileDurable(found.file);
      log.warn({ ...base, steps: undone.length }, `undid the interrupted ${j.kind} of ${j.gpu}: the host is as before it`);
      transitions.push({ ...base, outcome: 'restored', undone });
      continue;
    }
    if (leftToKernel.size > 0) {
      const devices = listDevices(leftToKernel);
      const them = leftToKernel.size > 1 ? 'them' : 'it';
      const also = failures.length > 0 ? `; undoing '${failures[0].description}' failed too: ${messageOf(failures[0].cause)}` : '';
      const error =
        `the interrupted ${j.kind} of ${j.gpu} was not undone for ${devices}: the kernel is still unbinding ${them} from vfio-pci and ` +
        `finishes only when the VM lets go of its group, leaving ${them} with no driver${also}; the journal ${found.file} is kept: ` +
        `once the VM is gone, run gpu-hookctl attach ${j.gpu} to give every function back to its host driver`;
      log.error(base, error);
      ledger.setFailure(j.gpu, error);
      transitions.push({ ...base, outcome: 'failed', undone, error, leftToKernel: [...leftToKernel] });
      continue;
    }
    const first = failures[0];
    const error =
      `undoing the interrupted ${j.kind} of ${j.gpu} failed at '${first.description}': ${messageOf(first.cause)}` +
      (failures.length > 1 ? ` (and ${failures.length - 1} more undo steps failed)` : '') +
      `; the journal ${found.file} is kept and retried at the next start: fix the cause (see dmesg) and restart gpu-hookd`;
    log.error(base, error);
    ledger.setFailure(j.gpu, error);
    transitions.push({ ...base, outcome: 'failed', undone, error });
  }
  return { transitions };
}
