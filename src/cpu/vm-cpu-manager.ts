// A VM's CPUs through its life: at prepare, decide its layout and keep host work off its CPUs
// (systemd AllowedCPUs, governors, IRQs); at started, pin QEMU's threads when the plan is ours; at
// release, give back exactly what was changed. Every stage runs as a journaled plan that rolls back
// on failure, and a crash is recovered at the daemon's start. CPU changes of all VMs run one at a
// time, and only one VM at a time holds host-wide changes: two overlapping isolations could not
// both be given back exactly when their VMs stop in another order than they started.

import type { HostIO } from '../host/host-io';
import { HostTimeoutError } from '../host/host-io';
import { currentBootId } from '../engine/device-state';
import { messageOf } from '../engine/engine-error';
import { KeyedMutex } from '../engine/keyed-mutex';
import { PlanFailure, runPlan, type StepProgress, type StepRecord } from '../engine/plan-runner';
import { fromEarlierBoot, undoCovered } from '../engine/plan-journal';
import { DEFAULT_TIMEOUTS, StepRegistry, silentLog, type EngineLog, type EngineTimeouts, type StepContext } from '../engine/step-executor';
import type { StepSpec } from '../engine/step-spec';
import type { AllowedCpusAccess } from '../engine/steps/allowed-cpus';
import { registerCpuSteps } from '../engine/steps/cpu-steps';
import type { DomainRequest } from '../libvirt/domain-request';
import { removeFileDurable } from '../engine/atomic-file';
import { CpuError } from './cpu-error';
import { cpuJournal, cpuJournalFile, readCpuJournal, readCpuJournals, type CpuJournalEntry, type CpuStage } from './cpu-journal';
import { readCpuTopology } from './cpu-topology';
import { readHostCpuFacts } from './host-cpu-facts';
import { planIsolation } from './isolation-plan';
import { ThreadAffinityError, type ProcessAccess } from './process-access';
import { findQemuPid, readQemuThreads } from './qemu-threads';
import { planThreadPins } from './thread-pin-plan';
import { resolveVmCpuLayout, wantsCpuWork, type CpuSettings, type VmCpuLayout } from './vm-cpu-layout';

export interface VmCpuManagerOptions {
  /** sysfs and procfs of the host (topology, governors, IRQs). */
  io: HostIO;
  /** QEMU's threads (procfs reads and affinity); on a real host over the same root as `io`. */
  processes: ProcessAccess;
  systemd: AllowedCpusAccess;
  stateDir: string;
  /** The VM's settings: its domain metadata over its config section over the defaults. */
  settingsFor: (vm: string, metadata: Readonly<Record<string, string>>) => CpuSettings;
  log?: EngineLog;
  timeouts?: Partial<EngineTimeouts>;
}

export interface CpuStageReport {
  vm: string;
  stage: CpuStage;
  layout: VmCpuLayout;
  steps: StepRecord[];
  notes: string[];
  totalMs: number;
}

export interface CpuRecovery {
  file: string;
  vm?: string;
  outcome: 'restored' | 'held' | 'stale' | 'failed' | 'unreadable';
  error?: string;
}

const HOST_CPUS = 'host-cpus';

export class VmCpuManager {
  private readonly lock = new KeyedMutex();
  private readonly registry: StepRegistry;
  private readonly ctx: StepContext;
  private readonly log: EngineLog;

  constructor(private readonly opts: VmCpuManagerOptions) {
    this.log = opts.log ?? silentLog;
    this.registry = registerCpuSteps(new StepRegistry(), { systemd: opts.systemd, processes: opts.processes });
    this.ctx = { io: opts.io, log: this.log, timeouts: { ...DEFAULT_TIMEOUTS, ...opts.timeouts } };
  }

  /** Decides the VM's CPUs and isolates them; null when the VM asks for nothing of its CPUs. */
  async prepare(request: DomainRequest): Promise<CpuStageReport | null> {
    const vm = request.name;
    const settings = this.opts.settingsFor(vm, request.settings);
    return this.lock.run(HOST_CPUS, async () => {
      // A record left by an earlier run whose release never came would otherwise be lost.
      await this.undoRecords(vm);
      if (!wantsCpuWork(settings)) return null;
      const topology = readCpuTopology(this.opts.io);
      const others = this.heldRecords().filter((r) => r.vm !== vm);
      const holder = others.find((r) => r.plan.length > 0);
      if (holder && (settings.isolateCpus || settings.governor || settings.irqAffinity)) {
        throw new CpuError(
          'Busy',
          `VM ${vm} asks gpu-hookd to keep host work off its CPUs, but VM ${holder.vm} holds the host's CPU isolation and gpu-hookd ` +
            `isolates for one VM at a time; stop ${holder.vm} first, or turn isolateCpus, governor and irqAffinity off for ${vm}`,
        );
      }
      const layout = resolveVmCpuLayout(request, settings, topology, { taken: others.flatMap((r) => r.layout.vmCpus) });
      const facts = await readHostCpuFacts(this.opts.io, this.opts.systemd, {
        units: settings.isolateCpus,
        governorCpus: settings.governor ? layout.vmCpus : [],
        irqs: settings.irqAffinity,
      }).catch((e: unknown) => {
        throw new CpuError(kindOf(e), `CPU isolation of VM ${vm} could not read the host's current settings, so nothing was changed: ${messageOf(e)}`, { cause: e });
      });
      const plan = planIsolation(layout, settings, facts, topology.online);
      return this.runStage('prepare', layout, plan.steps, [...layout.notes, ...plan.notes]);
    });
  }

  /** Pins QEMU's threads when prepare made an automatic plan; null when there is nothing to pin. */
  started(vm: string): Promise<CpuStageReport | null> {
    return this.lock.run(HOST_CPUS, async () => {
      const record = this.readRecord(vm, 'prepare');
      if (!record?.applied || record.layout.threadPins === null) return null;
      const pid = findQemuPid(this.opts.processes.io, vm);
      const steps = planThreadPins(vm, pid, readQemuThreads(this.opts.processes.io, pid), record.layout.threadPins);
      return this.runStage('started', record.layout, steps, []);
    });
  }

  /** Gives back everything changed for the VM, in reverse; nothing recorded is fine. */
  release(vm: string): Promise<StepRecord[]> {
    return this.lock.run(HOST_CPUS, () => this.undoRecords(vm));
  }

  /**
   * At the daemon's start: undoes stages a crash interrupted, and the changes of VMs that no longer
   * run (`isVmRunning` false); keeps those of running VMs (or when it cannot tell). Never throws:
   * each problem is logged and reported.
   */
  recover(isVmRunning?: (vm: string) => Promise<boolean | undefined>): Promise<CpuRecovery[]> {
    return this.lock.run(HOST_CPUS, async () => {
      const bootId = currentBootId(this.opts.io);
      const report: CpuRecovery[] = [];
      for (const found of readCpuJournals(this.opts.stateDir)) {
        if ('error' in found) {
          const error = unreadable(found.file, found.error);
          this.log.error({ record: found.file }, error);
          report.push({ file: found.file, outcome: 'unreadable', error });
          continue;
        }
        const { file, entry } = found;
        if (fromEarlierBoot(entry, bootId)) {
          // Runtime AllowedCPUs, governors and IRQ affinity did not survive the reboot: nothing to give back.
          await removeFileDurable(file);
          report.push({ file, vm: entry.vm, outcome: 'stale' });
          continue;
        }
        if (entry.stage === 'prepare' && entry.applied) {
          const running = isVmRunning ? await isVmRunning(entry.vm).catch(() => undefined) : undefined;
          if (running !== false) {
            report.push({ file, vm: entry.vm, outcome: 'held' });
            continue;
          }
        }
        try {
          await this.undoEntry(file, entry);
          this.log.warn({ vm: entry.vm, stage: entry.stage }, `gave back the CPU changes of VM ${entry.vm} (${entry.applied ? 'the VM is gone' : 'interrupted by a crash'})`);
          report.push({ file, vm: entry.vm, outcome: 'restored' });
        } catch (e) {
          this.log.error({ vm: entry.vm, record: file }, messageOf(e));
          report.push({ file, vm: entry.vm, outcome: 'failed', error: messageOf(e) });
        }
      }
      return report;
    });
  }

  private async runStage(stage: CpuStage, layout: VmCpuLayout, plan: StepSpec[], notes: string[]): Promise<CpuStageReport> {
    const vm = layout.vm;
    const started = performance.now();
    const journal = cpuJournal(this.opts.stateDir, {
      version: 1,
      vm,
      stage,
      bootId: currentBootId(this.opts.io),
      layout,
      plan,
      startedAt: new Date().toISOString(),
    });
    for (const note of notes) this.log.warn({ vm }, `VM ${vm}: ${note}`);
    const what = stage === 'prepare' ? 'CPU isolation' : 'CPU pinning';
    if (plan.length > 0) {
      await journal.cover(plan.length - 1).catch((e: unknown) => {
        throw new CpuError('Failed', `${what} of VM ${vm} changed nothing: the CPU record ${journal.file} could not be written (${messageOf(e)}); make the state directory writable`, { cause: e });
      });
    }
    let steps: StepRecord[];
    try {
      steps = await runPlan(plan, { ctx: this.ctx, registry: this.registry, emit: (p) => this.logStep(vm, p) });
    } catch (e) {
      if (!(e instanceof PlanFailure)) throw e;
      if (e.rollbackFailures.length === 0) await journal.remove();
      else await journal.close();
      throw stageError(vm, stage, e, journal.file);
    }
    // Thread pins last as long as the threads: only prepare's changes wait for release.
    if (stage === 'prepare') {
      await journal.markApplied();
      await journal.close();
    } else {
      await journal.remove();
    }
    const totalMs = performance.now() - started;
    this.log.info({ vm, stage, steps: steps.length, ms: totalMs }, `${what} of VM ${vm} done`);
    return { vm, stage, layout, steps, notes, totalMs };
  }

  private async undoRecords(vm: string): Promise<StepRecord[]> {
    const undone: StepRecord[] = [];
    for (const stage of ['started', 'prepare'] as const) {
      const entry = this.readRecord(vm, stage);
      if (entry) undone.push(...(await this.undoEntry(cpuJournalFile(this.opts.stateDir, vm, stage), entry)));
    }
    return undone;
  }

  private async undoEntry(file: string, entry: CpuJournalEntry): Promise<StepRecord[]> {
    const { undone, failures } = await undoCovered(entry.plan, entry.inFlight, { ctx: this.ctx, registry: this.registry, emit: (p) => this.logStep(entry.vm, p) });
    if (failures.length > 0) {
      const first = failures[0];
      throw new CpuError(
        kindOf(first.cause),
        `giving back the CPUs of VM ${entry.vm} failed at '${first.description}': ${messageOf(first.cause)}` +
          (failures.length > 1 ? ` (and ${failures.length - 1} more undo steps failed)` : '') +
          `; the record ${file} is kept and gpu-hookd tries again when it next starts: fix the cause and restart gpu-hookd`,
        { cause: first.cause },
      );
    }
    await removeFileDurable(file);
    return undone;
  }

  private readRecord(vm: string, stage: CpuStage): CpuJournalEntry | undefined {
    try {
      return readCpuJournal(this.opts.stateDir, vm, stage);
    } catch (e) {
      throw new CpuError('Failed', unreadable(cpuJournalFile(this.opts.stateDir, vm, stage), messageOf(e)), { cause: e });
    }
  }

  private heldRecords(): CpuJournalEntry[] {
    return readCpuJournals(this.opts.stateDir).flatMap((f) => ('entry' in f && f.entry.stage === 'prepare' && f.entry.applied ? [f.entry] : []));
  }

  private logStep(vm: string, p: StepProgress): void {
    if (p.status === 'failed') this.log.warn({ vm, step: p.description, phase: p.phase }, `VM ${vm}: ${p.description} failed: ${p.error}`);
    else this.log.debug({ vm, step: p.description, phase: p.phase, status: p.status, ms: p.ms }, `VM ${vm}: ${p.phase === 'undo' ? 'undo ' : ''}${p.description} ${p.status}`);
  }
}

function unreadable(file: string, why: string): string {
  return (
    `the CPU record ${file} cannot be read (${why}), so what it changed was not given back; check ` +
    `"systemctl show -p AllowedCPUs system.slice user.slice init.scope", the cpufreq governors and /proc/irq/*/smp_affinity_list, fix them by hand and delete the file`
  );
}

function kindOf(cause: unknown): 'Timeout' | 'Failed' {
  const timedOut =
    cause instanceof HostTimeoutError ||
    (cause instanceof CpuError && cause.kind === 'Timeout') ||
    (cause instanceof ThreadAffinityError && cause.code === 'ETIMEDOUT');
  return timedOut ? 'Timeout' : 'Failed';
}

/** One sentence: the step that failed, its cause, and where the host stands. */
function stageError(vm: string, stage: CpuStage, failure: PlanFailure, file: string): CpuError {
  const what = stage === 'prepare' ? 'CPU isolation' : 'CPU pinning';
  const head = `${what} of VM ${vm} failed at '${failure.failed.description}': ${messageOf(failure.failed.cause)}`;
  if (failure.rollbackFailures.length === 0) {
    return new CpuError(kindOf(failure.failed.cause), `${head}; every change was undone, so the host is as before: fix the cause and start the VM again`, {
      cause: failure.failed.cause,
    });
  }
  const first = failure.rollbackFailures[0];
  return new CpuError(
    'Failed',
    `${head}; undoing then failed too at '${first.description}': ${messageOf(first.cause)}, so the host is half-way: the record ${file} ` +
      `is kept and gpu-hookd undoes it when it next starts: fix the cause and restart gpu-hookd`,
    { cause: failure.failed.cause },
  );
}
