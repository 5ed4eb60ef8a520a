// The engine's front door for the daemon, the CLI and the demo: detach a GPU's IOMMU group to
// vfio-pci and attach it back, serialised per group, journaled, rolled back on failure.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { findGpuForAddress, NoIommuGroupError, NoSuchPciDeviceError, NotAGpuError } from '../host/gpu-inventory';
import { gpuDeviceNodes } from '../host/gpu-holders';
import { HostTimeoutError, HostWriteError, type HostIO } from '../host/host-io';
import type { HostServices } from '../host/host-services';
import { hostProcessAccess, type ProcessAccess } from '../cpu/process-access';
import { InvalidPciAddressError, parsePciAddress } from '../host/pci-address';
import { readIommuGroupOf } from '../host/pci-discovery';
import { VFIO_DRIVER, type Gpu } from '../host/pci-device';
import { systemPciNamer, type PciNamer } from '../host/pci-ids';
import { describeUses, functionUses } from '../host/function-uses';
import { gpuViability, moveTargets } from '../host/viability';
import { planAttach } from './attach-plan';
import { planDetach } from './detach-plan';
import { readHandoverFacts } from './handover-facts';
import { planHandover, planHandoverRelease, type HandoverSettings } from './handover-plan';
import { currentBootId, devicePath, driverRegistered, functionsNow, type FunctionNow } from './device-state';
import { functionToReset, giveBackFailure, resetCandidates, resetForAttempt } from './give-back-reset';
import { functionsOnBus, readFunctionResets, slotResetBridge, workingMethods } from '../host/pci-reset';
import { vendorResetCard } from '../host/vendor-reset-cards';
import { inBootOrder, numberingMoved } from './display-numbering';
import { EngineError, messageOf, StepError, type EngineErrorCode } from './engine-error';
import { GpuLedger, type GpuRecord, type Motion } from './gpu-ledger';
import { inUseNote, refuseWhileHeld } from './group-in-use';
import { recordHostState } from './host-state';
import { Journal, type TransitionKind } from './journal';
import { KeyedMutex } from './keyed-mutex';
import { groupUseOf, listDevices } from './left-to-kernel';
import { PlanFailure, runPlan, type StepFailure, type StepProgress, type StepRecord } from './plan-runner';
import { recoverInterruptedTransition, type RecoveryReport } from './recovery';
import { DEFAULT_TIMEOUTS, silentLog, type EngineLog, type EngineTimeouts, type StepContext, type StepRegistry } from './step-executor';
import type { StepSpec } from './step-spec';
import { builtinStepRegistry } from './steps/builtin-steps';

export type { EngineLog, EngineTimeouts } from './step-executor';

export interface StepEvent extends StepProgress {
  transition: string;
  gpu: string;
  kind: TransitionKind;
}

export interface TransitionReport {
  transition: string;
  gpu: string;
  kind: TransitionKind;
  steps: StepRecord[];
  totalMs: number;
  /** False when the GPU already was where it was asked to go. */
  changed: boolean;
  /** What the user should know although the transition succeeded (a GPU back under other numbers). */
  notes?: string[];
}

export interface TransitionEngineOptions {
  io: HostIO;
  /** Where journals and GPU records live (/var/lib/gpu-hookd on a real host). */
  stateDir: string;
  log?: EngineLog;
  timeouts?: Partial<EngineTimeouts>;
  /** Built-in steps plus any a later feature registers. */
  registry?: StepRegistry;
  namer?: PciNamer;
  /** systemd and logind on the system bus, for the single-GPU handover and its recovery. */
  services?: HostServices;
  /** How host processes are signalled (GPU holders under policy "terminate"); default the running kernel's. */
  processes?: ProcessAccess;
  /**
   * False: the functions of a group move one after another, so that every write's effect can be
   * seen alone (the lab compares the state after each step with the simulator's). Default true:
   * their runs go side by side (plan-waves.ts).
   */
  sideBySide?: boolean;
  /** The ledger to write GPU records and outcomes to; default: one of its own on `stateDir`. */
  ledger?: GpuLedger;
}

export interface TransitionOptions {
  onStep?: (event: StepEvent) => void;
}

export interface DetachOptions extends TransitionOptions {
  /** The VM's name; "" or absent for a detach by hand. */
  owner?: string;
  /** Detached by hand: recorded in the ledger, so the GPU stays on vfio-pci when a VM that takes it
   *  later stops. Absent: as the GPU's record says (false without one). */
  manual?: boolean;
  /** When given and the host's display depends on the GPU, the single-GPU handover wraps the
   *  group detach (handover-plan.ts), and the attach undoes it. */
  handover?: HandoverSettings;
  /** Functions of the group that the domain names (its hostdevs and metadata): they move with the
   *  card although they are not of it (viability.ts); any other device on a host driver refuses. */
  named?: readonly string[];
}

interface EngineEvents {
  step: [StepEvent];
  started: [{ transition: string; gpu: string; kind: TransitionKind; owner: string; steps: number }];
  finished: [{ report: TransitionReport } | { transition: string; gpu: string; kind: TransitionKind; error: EngineError }];
}

export class TransitionEngine extends EventEmitter<EngineEvents> {
  /** Every GPU's record, claim and outcome; the daemon's service shares it (gpu-ledger.ts). */
  readonly ledger: GpuLedger;
  private readonly io: HostIO;
  private readonly stateDir: string;
  private readonly log: EngineLog;
  private readonly timeouts: EngineTimeouts;
  private readonly registry: StepRegistry;
  private readonly locks = new KeyedMutex();
  /** Functions left to the kernel in an unbind from vfio-pci that timed out, by IOMMU group (left-to-kernel.ts). */
  private readonly unbindsLeft = new Map<string, string>();
  private readonly services: HostServices | undefined;
  private readonly processes: ProcessAccess;
  private readonly sideBySide: boolean;
  private namer: PciNamer | undefined;
  /** Each PCI driver's module, read once for the life of the engine (PciDeviceReader says why it stands). */
  private readonly driverModules = new Map<string, string>();
  /** The kernel's boot_id, read once: it cannot change while this process lives (a reboot ends it). */
  private bootId: string | null | undefined;

  constructor(opts: TransitionEngineOptions) {
    super();
    this.io = opts.io;
    this.stateDir = opts.stateDir;
    this.log = opts.log ?? silentLog;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.registry = opts.registry ?? builtinStepRegistry();
    this.namer = opts.namer;
    this.services = opts.services;
    this.processes = opts.processes ?? hostProcessAccess(opts.io);
    this.sideBySide = opts.sideBySide ?? true;
    this.ledger = opts.ledger ?? new GpuLedger(opts.stateDir);
  }

  /** Moves every function of the GPU's IOMMU group to vfio-pci. `owner`: the VM's name, "" by hand. */
  detach(gpuAddress: string, opts: DetachOptions = {}): Promise<TransitionReport> {
    return this.inLedger(gpuAddress, 'detaching', () => this.detachLocked(gpuAddress, opts));
  }

  private detachLocked(gpuAddress: string, opts: DetachOptions): Promise<TransitionReport> {
    return this.locked(gpuAddress, 'detach', async (address, group) => {
      const found = this.findGpu(address, 'detach', group);
      const viability = gpuViability(found, opts.named, (a) => describeUses(functionUses(this.io, a)));
      // The card's functions and those the domain names; the rest of the group stays as it is.
      const gpu = { ...found, functions: moveTargets(found, opts.named) };
      const byHand = !opts.owner;
      const groupPlan = planDetach(gpu, { vfioPciLoaded: driverRegistered(this.io, VFIO_DRIVER), viability, byHand });
      // Nothing to move, nothing to hand over: the GPU is on vfio-pci already.
      const handover = opts.handover && groupPlan.length > 0 ? planHandover(await readHandoverFacts(this.io, this.services, gpu, opts.handover), opts.handover) : undefined;
      for (const note of handover?.notes ?? []) this.log.info({ gpu: gpu.address }, `detach of ${gpu.address}: ${note}`);
      const plan = handover ? [...handover.before, ...groupPlan, ...handover.after] : groupPlan;
      const handoverSteps = handover ? [...handover.before, ...handover.after] : [];
      const bootId = this.currentBootId();
      const existing = this.ledger.load(gpu.address);
      // A record from this boot already holds the true host state (the GPU was detached before): keep it.
      const kept = existing && existing.bootId === bootId ? existing : undefined;
      const owner = opts.owner ?? kept?.owner ?? '';
      const manual = opts.manual ?? kept?.manual ?? false;
      // A handover of an earlier, partial detach stays recorded: its undo is still owed.
      const recorded = [...(kept?.handover ?? []), ...handoverSteps];
      const record: GpuRecord = kept
        ? { ...kept, owner, manual }
        : {
            version: 1,
            gpu: gpu.address,
            owner,
            manual,
            functions: recordHostState(gpu.functions),
            detachedAt: new Date().toISOString(),
            bootId,
            displayNodes: displayNodesOf(this.io, gpu.address),
          };
      if (recorded.length > 0) record.handover = recorded;
      const save = !kept || kept.owner !== owner || kept.manual !== manual || handoverSteps.length > 0;
      return this.execute('detach', gpu.address, owner, plan, !kept, opts, bootId, save ? record : undefined);
    });
  }

  /** Gives every function back to the host driver recorded at detach. */
  attach(gpuAddress: string, opts: TransitionOptions = {}): Promise<TransitionReport> {
    return this.inLedger(gpuAddress, 'attaching', () => this.attachLocked(gpuAddress, opts));
  }

  /** Tells the ledger that a transition of the GPU runs from now on, and how it ended. */
  private async inLedger(gpuAddress: string, motion: Motion, run: () => Promise<TransitionReport>): Promise<TransitionReport> {
    let gpu: string;
    try {
      gpu = parsePciAddress(gpuAddress);
    } catch {
      return run();
    }
    this.ledger.begin(gpu, motion);
    try {
      const report = await run();
      this.ledger.end(gpu, '');
      return report;
    } catch (e) {
      this.ledger.end(gpu, messageOf(e));
      throw e;
    }
  }

  private attachLocked(gpuAddress: string, opts: TransitionOptions): Promise<TransitionReport> {
    return this.locked(gpuAddress, 'attach', async (address, group) => {
      // Asked for the GPU it recorded, attach reads of each recorded function only what the kernel
      // may have changed since (its identity it read at detach); else it finds the GPU by discovery.
      const recorded = group === null ? undefined : this.ledger.load(address);
      if (recorded && group !== null) return this.attachRecorded(recorded, functionsNow(this.io, recorded.functions.map((f) => f.address), group, address), group, opts);
      const gpu = this.findGpu(address, 'attach', group);
      const record = this.ledger.load(gpu.address);
      if (!record) {
        // Not moved by gpu-hookd: what another tool left on vfio-pci (or overridden to it) goes to
        // the driver the kernel chooses; the rest is where it should be.
        const left = moveTargets(gpu).filter((f) => f.driver === VFIO_DRIVER || f.driverOverride === VFIO_DRIVER);
        const plan = planAttach(gpu.address, recordHostState(left), left, new Set());
        refuseWhileHeld(this.io, gpu.address, gpu.group.id, plan);
        return this.execute('attach', gpu.address, '', plan, false, opts);
      }
      return this.attachRecorded(record, gpu.functions, gpu.group.id, opts);
    });
  }

  /**
   * Gives the recorded functions back. A host driver that does not take its function (no bind in
   * time, or bound without its DRM device) gets a second chance: the attach has been rolled back to
   * vfio-pci's hands, the function is reset (give-back-reset.ts: its own reset, else its bus when
   * every function on it is the GPU's), and the whole attach runs again, at most giveBackResets times.
   * Each reset is a journaled, verified step. When nothing brings it back the GPU is marked failed
   * with one sentence, its record kept, so `gpu-hookctl attach` tries the whole give-back again.
   */
  private async attachRecorded(record: GpuRecord, firstNow: readonly FunctionNow[], group: string | null, opts: TransitionOptions): Promise<TransitionReport> {
    const wanted = new Set(record.functions.map((f) => f.driver).filter((d) => d !== null));
    const addresses = record.functions.map((f) => f.address);
    const tried: string[] = [];
    const steps: StepRecord[] = [];
    const started = performance.now();
    let now = firstNow;
    for (let attempt = 0; ; attempt++) {
      const registered = new Set([...wanted].filter((d) => driverRegistered(this.io, d)));
      // The group first (its driver's module loads as it binds), then what the handover took, in reverse.
      const plan = [...planAttach(record.gpu, record.functions, now, registered), ...planHandoverRelease(record.handover ?? [])];
      refuseWhileHeld(this.io, record.gpu, group, plan);
      try {
        const report = await this.execute('attach', record.gpu, record.owner, plan, false, opts);
        await this.ledger.remove(record.gpu);
        return this.withNumberingNote(record, tried.length === 0 ? report : { ...report, steps: [...steps, ...report.steps], totalMs: performance.now() - started });
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        const victim = functionToReset(e.cause, e.details.restored === true);
        if (!victim) throw e;
        const listed = readFunctionResets(this.io, victim.device);
        const candidates = resetCandidates(victim.device, {
          resets: { ...listed, methods: workingMethods(this.io, listed) },
          bridge: slotResetBridge(this.io, victim.device),
          busFunctions: functionsOnBus(this.io, victim.device),
          ours: addresses,
        });
        const reset = attempt < this.timeouts.giveBackResets ? resetForAttempt(candidates, attempt) : undefined;
        if (!reset) throw this.giveUp(record.gpu, victim, tried, candidates.length === 0, e);
        this.log.warn({ gpu: record.gpu, device: victim.device }, `attach of ${record.gpu}: ${messageOf(e)}; resetting and trying again`);
        const what = this.registry.describe(reset);
        try {
          steps.push(...(await this.execute('attach', record.gpu, record.owner, [reset], false, opts)).steps);
        } catch (resetError) {
          throw this.giveUp(record.gpu, victim, [...tried, `${what}, which failed: ${messageOf((resetError as Error).cause ?? resetError)}`], false, e);
        }
        tried.push(what);
        now = group === null ? now : functionsNow(this.io, addresses, group, record.gpu);
      }
    }
  }

  /** Marks the GPU failed with the sentence that names what was tried and what is left to do. */
  private giveUp(gpu: string, victim: { device: string; driver: string }, tried: string[], noReset: boolean, last: EngineError): EngineError {
    const vendor = vendorResetCard(this.io.readText(devicePath(gpu, 'vendor'))?.replace(/^0x/, '') ?? '', this.io.readText(devicePath(gpu, 'device'))?.replace(/^0x/, '') ?? '');
    const active = readFunctionResets(this.io, gpu).methods.includes('device_specific');
    const failedAt = last.details.failedStep ? this.registry.describe(last.details.failedStep) : '';
    const cause = messageOf(last.cause ?? last);
    const message = giveBackFailure({
      gpu,
      device: victim.device,
      driver: victim.driver,
      tried,
      lastCause: failedAt ? `'${failedAt}': ${cause}` : cause,
      noReset: noReset && tried.length === 0,
      needsVendorReset: vendor !== undefined && !active,
    });
    this.ledger.setFailure(gpu, message);
    this.log.error({ gpu, device: victim.device, tried }, message);
    return new EngineError('Failed', message, { ...last.details, gpu }, { cause: last });
  }

  /** The report, with one sentence when the GPU came back under other numbers than before its detach. */
  private withNumberingNote(record: GpuRecord, report: TransitionReport): TransitionReport {
    const moved = report.changed ? numberingMoved(record.gpu, record.displayNodes, displayNodesOf(this.io, record.gpu)) : undefined;
    if (moved === undefined) return report;
    this.log.warn({ transition: report.transition, gpu: record.gpu, kind: 'attach' }, moved);
    return { ...report, notes: [moved] };
  }

  /**
   * GPUs to give back together, in the order that keeps their DRM and framebuffer numbers: as they
   * had them before their detach (display-numbering.ts); GPUs without a record keep their place at the end.
   */
  inBootOrder(gpus: readonly string[]): string[] {
    const recorded = gpus.map((gpu) => {
      try {
        return { gpu, displayNodes: this.ledger.load(gpu)?.displayNodes };
      } catch {
        // An unreadable record is the attach's to report.
        return { gpu };
      }
    });
    return inBootOrder(recorded).map((r) => r.gpu);
  }

  /** Undoes transitions a crash interrupted; the daemon calls it at start, before serving. */
  async recover(): Promise<RecoveryReport> {
    const report = await recoverInterruptedTransition(this.stateDir, this.io, {
      registry: this.registry,
      log: this.log,
      timeouts: this.timeouts,
      services: this.services,
      ledger: this.ledger,
    });
    for (const t of report.transitions) for (const device of t.leftToKernel ?? []) this.leaveToKernel(device);
    return report;
  }

  /**
   * Functions the kernel may still be unbinding from vfio-pci (a transition timed out there, or a
   * restart's recovery found one waiting): reading their driver_override would block, so discovery
   * must skip it (DiscoveryOptions.unreadable). One leaves the set at the next transition of its GPU
   * once its group is let go.
   */
  leftToKernel(): ReadonlySet<string> {
    return new Set(this.unbindsLeft.keys());
  }

  private leaveToKernel(device: string): void {
    this.unbindsLeft.set(device, readIommuGroupOf(this.io, device) ?? device);
  }

  private async locked(
    gpuAddress: string,
    kind: TransitionKind,
    work: (address: string, group: string | null) => Promise<TransitionReport>,
  ): Promise<TransitionReport> {
    // One lock per IOMMU group: two GPUs in one group are one unit for the kernel too.
    const address = this.parse(gpuAddress, kind);
    const group = readIommuGroupOf(this.io, address);
    const key = group ?? address;
    return this.locks.run(key, () => {
      this.refuseWhileUnbinding(key, address, kind);
      return work(address, group);
    });
  }

  /**
   * Refuses, before reading any function of the group, while the kernel still waits to finish an
   * unbind from vfio-pci that timed out here: every read of that function's driver_override (the
   * GPU's discovery reads them all) would block the event loop until the group is let go.
   */
  private refuseWhileUnbinding(key: string, gpu: string, kind: TransitionKind): void {
    const waiting: string[] = [];
    let inUse = '';
    for (const [device, group] of this.unbindsLeft) {
      if (group !== key) continue;
      const use = groupUseOf(this.io, device);
      // Let go: the kernel has finished that unbind.
      if (use === '') {
        this.unbindsLeft.delete(device);
        continue;
      }
      waiting.push(device);
      inUse = use;
    }
    if (waiting.length === 0) return;
    throw new EngineError(
      'Busy',
      `${kind} of ${gpu} refused before any change: the kernel is still unbinding ${listDevices(waiting)} from ${VFIO_DRIVER} and finishes only ` +
        `when the group is let go (${inUse}); shut the VM down (virsh shutdown or virsh destroy) or stop the process, then run ${kind} again`,
      { gpu },
    );
  }

  private currentBootId(): string | null {
    if (this.bootId === undefined) this.bootId = currentBootId(this.io);
    return this.bootId;
  }

  private parse(gpuAddress: string, kind: TransitionKind): string {
    try {
      return parsePciAddress(gpuAddress);
    } catch (e) {
      throw new EngineError('InvalidArgument', `${kind} refused: ${messageOf(e)}`, {}, { cause: e });
    }
  }

  private findGpu(gpuAddress: string, kind: TransitionKind, group: string | null): Gpu {
    this.namer ??= systemPciNamer(this.io);
    try {
      return findGpuForAddress(this.io, gpuAddress, { namer: this.namer, driverModules: this.driverModules }, group ?? undefined);
    } catch (e) {
      const code: EngineErrorCode | undefined =
        e instanceof InvalidPciAddressError || e instanceof NotAGpuError
          ? 'InvalidArgument'
          : e instanceof NoSuchPciDeviceError
            ? 'NotFound'
            : e instanceof NoIommuGroupError
              ? 'NotViable'
              : undefined;
      if (code === undefined) throw e;
      throw new EngineError(code, `${kind} refused: ${messageOf(e)}`, { gpu: gpuAddress }, { cause: e });
    }
  }

  private async execute(
    kind: TransitionKind,
    gpu: string,
    owner: string,
    plan: StepSpec[],
    createdRecord: boolean,
    opts: TransitionOptions,
    bootId = this.currentBootId(),
    record?: GpuRecord,
  ): Promise<TransitionReport> {
    const transition = randomUUID();
    // The record is needed only once the steps are done (a crash before that is undone from the
    // journal alone), so it is written while the kernel works on the first of them, and awaited
    // before the last wave of steps starts: a record that cannot be written rolls the steps back.
    const recordSaved = record ? whileTheKernelWorks(() => this.ledger.save(record)) : Promise.resolve(undefined);
    const lastIndex = plan.length - 1;
    const started = performance.now();
    const journal = new Journal(this.stateDir, {
      version: 1,
      id: transition,
      kind,
      gpu,
      owner,
      plan,
      startedAt: new Date().toISOString(),
      bootId,
      createdRecord,
    });
    const ctx: StepContext = { io: this.io, log: this.log, timeouts: this.timeouts, services: this.services, processes: this.processes };
    const emit = (p: StepProgress): void => {
      const event: StepEvent = { ...p, transition, gpu, kind };
      if (this.log.isLevelEnabled?.('debug') ?? true) this.log.debug(event, `${kind} ${gpu}: ${p.phase === 'undo' ? 'undo ' : ''}${p.description} ${p.status}`);
      if (p.note) this.log.warn({ transition, gpu, kind, step: p.description }, `${kind} of ${gpu}, ${p.description}: ${p.note}`);
      opts.onStep?.(event);
      this.emit('step', event);
    };
    this.log.info({ transition, gpu, kind, owner, steps: plan.length }, `${kind} of ${gpu} started`);
    this.emit('started', { transition, gpu, kind, owner, steps: plan.length });
    let steps: StepRecord[];
    try {
      steps = await runPlan(plan, {
        ctx,
        registry: this.registry,
        oneAtATime: !this.sideBySide,
        beforeStep: async (index) => {
          await journal.cover(index).catch((e: unknown) => {
            throw new Error(`the journal ${journal.file} could not be written: ${messageOf(e)}`);
          });
          const saveError = index === lastIndex ? await recordSaved : undefined;
          if (saveError !== undefined) throw new Error(recordSaveFailure(this.ledger.fileOf(gpu), saveError));
        },
        emit,
      });
    } catch (e) {
      if (!(e instanceof PlanFailure)) throw e;
      // No write of the record may land after its removal below.
      await recordSaved;
      for (const device of e.leftToKernel) this.leaveToKernel(device);
      const restored = e.rollbackFailures.length === 0 && e.leftToKernel.length === 0;
      if (restored) {
        await journal.remove();
        if (createdRecord) await this.ledger.remove(gpu);
      } else {
        await journal.close();
      }
      const error = transitionError(kind, gpu, e, journal.file, inUseNote(this.io, gpu, e.failed.cause));
      Object.assign(error.details, { failedStep: plan[e.failed.index], restored });
      this.ledger.setFailure(gpu, restored ? undefined : error.message);
      this.log.error({ transition, gpu, kind, step: e.failed.description, restored }, error.message);
      this.emit('finished', { transition, gpu, kind, error });
      throw error;
    }
    // Awaited already before the last wave; a plan with no steps gets here first.
    const saveError = await recordSaved;
    if (saveError !== undefined) {
      await journal.remove();
      const error = new EngineError('Failed', `${kind} of ${gpu} failed: ${recordSaveFailure(this.ledger.fileOf(gpu), saveError)}; nothing on the host was changed`, { gpu });
      this.log.error({ transition, gpu, kind }, error.message);
      this.emit('finished', { transition, gpu, kind, error });
      throw error;
    }
    // Also clears a journal a failed rollback left earlier: this transition superseded it.
    await journal.remove();
    this.ledger.setFailure(gpu, undefined);
    const report: TransitionReport = { transition, gpu, kind, steps, totalMs: performance.now() - started, changed: plan.length > 0 };
    this.log.info({ transition, gpu, kind, ms: report.totalMs, changed: report.changed }, `${kind} of ${gpu} finished`);
    this.emit('finished', { report });
    return report;
  }
}

/** Runs `work` once the caller's synchronous part is done and it waits on the kernel (a write in
 *  the thread pool); resolves with its error, or undefined, and never rejects. */
function whileTheKernelWorks(work: () => Promise<void>): Promise<unknown> {
  return new Promise<void>((resolve) => setImmediate(resolve))
    .then(work)
    .then(
      () => undefined,
      (e: unknown) => e ?? new Error('unknown error'),
    );
}

function recordSaveFailure(file: string, cause: unknown): string {
  return `the GPU record ${file} could not be written: ${messageOf(cause)}`;
}

/** The one sentence: what failed (device, step, cause), where the host stands, and what to do. */
function transitionError(kind: TransitionKind, gpu: string, failure: PlanFailure, journalFile: string, inUse: string): EngineError {
  const { failed, rollbackFailures, leftToKernel } = failure;
  const head = `${kind} of ${gpu} failed at '${failed.description}': ${messageOf(failed.cause)}${inUse}`;
  if (leftToKernel.length > 0) return leftToKernelError(gpu, failure, head, journalFile);
  if (rollbackFailures.length === 0) {
    return new EngineError(codeOf(failed.cause), `${head}; the host was restored to its previous state${adviceFor(failed)}`, {
      gpu,
      step: failed.description,
    }, { cause: failed.cause });
  }
  const first = rollbackFailures[0];
  const more = rollbackFailures.length > 1 ? ` (and ${rollbackFailures.length - 1} more undo steps failed)` : '';
  return new EngineError(
    'Failed',
    `${head}; rolling back then failed too at '${first.description}': ${messageOf(first.cause)}${more}, so the host is ` +
      `half-way: the journal ${journalFile} is kept and gpu-hookd undoes it when it next starts; ` +
      `fix the cause (see dmesg) and restart gpu-hookd, or run the ${kind === 'detach' ? 'attach' : 'detach'} again`,
    { gpu, step: failed.description, journal: journalFile },
    { cause: failed.cause },
  );
}

/**
 * An unbind from vfio-pci timed out: the kernel finishes it alone once the group is let go, so the
 * function was not touched again and ends with no driver; the next attach probes it back. The journal
 * stays (a restart's recovery leaves the function alone while the group is held) and marks the GPU failed.
 */
function leftToKernelError(gpu: string, failure: PlanFailure, head: string, journalFile: string): EngineError {
  const { failed, rollbackFailures, leftToKernel } = failure;
  const devices = listDevices(leftToKernel);
  const also = rollbackFailures.length > 0 ? `; undoing '${rollbackFailures[0].description}' failed too: ${messageOf(rollbackFailures[0].cause)}` : '';
  return new EngineError(
    codeOf(failed.cause),
    `${head}; the kernel finishes the unbind of ${devices} from ${VFIO_DRIVER} by itself once the VM lets go of the group and ` +
      `then leaves ${leftToKernel.length > 1 ? 'them' : 'it'} with no driver, so gpu-hookd left ${devices} alone and undid the rest${also}: ` +
      `once the VM is gone, run gpu-hookctl attach ${gpu} again to give every function back to its host driver`,
    { gpu, step: failed.description, journal: journalFile },
    { cause: failed.cause },
  );
}

function codeOf(cause: unknown): EngineErrorCode {
  if (cause instanceof StepError) return cause.code;
  if (cause instanceof HostTimeoutError) return 'Timeout';
  if (cause instanceof HostWriteError && cause.code === 'EBUSY') return 'Busy';
  return 'Failed';
}

function adviceFor(failed: StepFailure): string {
  const { cause } = failed;
  if (cause instanceof StepError) return `: ${cause.advice}`;
  if (cause instanceof HostTimeoutError || (cause instanceof HostWriteError && cause.code === 'EBUSY')) {
    return ': stop what is using the device (a display server, an audio daemon, a VM) and try again';
  }
  return ': try again, and if it fails the same way check dmesg for what the kernel says about the device';
}

/** The display function's DRM nodes and framebuffer devices, as the kernel numbered them now (a 6.1
 *  kernel's sysfs also lists controlD nodes, which nothing opens: left out). */
function displayNodesOf(io: HostIO, gpu: string): string[] {
  return gpuDeviceNodes(io, [gpu], { nvidia: false }).nodes.filter((n) => /\/(card|renderD|fb)\d+$/.test(n));
}
