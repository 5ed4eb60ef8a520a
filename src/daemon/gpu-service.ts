// The daemon's brain, free of D-Bus: which GPUs exist, and the hook's phases turned into engine
// transitions. Who holds each GPU, its mode and its last error are the ledger's (gpu-ledger.ts),
// which the engine shares; the view is derived from it and the kernel. Claims are taken
// synchronously before any await, so two VMs racing for one GPU cannot both win; transitions of
// one GPU are serialised by the engine's per-device lock.

import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { HostIO } from '../host/host-io';
import { parsePciAddress } from '../host/pci-address';
import { describeBinding } from '../host/leftovers';
import { VFIO_DRIVER, type Gpu } from '../host/pci-device';
import { gpuViability, moveTargets } from '../host/viability';
import { listGpus, findGpuForAddress, type DiscoveryOptions } from '../host/gpu-inventory';
import { readFunctionResets } from '../host/pci-reset';
import { readGpuResets } from '../host/gpu-resets';
import type { ResetRiskPolicy } from './config-schema';
import { resetVerdict } from './reset-policy';
import { readDomainRequest, validateDomainName, type DomainRequest } from '../libvirt/domain-request';
import type { TransitionEngine, StepEvent } from '../engine/transition-engine';
import type { HandoverSettings } from '../engine/handover-plan';
import type { VmCpuManager } from '../cpu/vm-cpu-manager';
import type { Claim, GpuRecord } from '../engine/gpu-ledger';
import { adoptOwnersFile } from './owners-file';
import { ServiceError, toServiceError } from './service-error';
import type { Logger } from 'pino';

/** mixed: some of the card's functions on vfio-pci, the others not (another tool's leftovers). */
export type GpuMode = 'host' | 'vfio' | 'mixed' | 'detaching' | 'attaching' | 'failed';

export interface GpuView {
  address: string;
  name: string;
  iommuGroup: string;
  functions: string[];
  drivers: Record<string, string>;
  hostDrivers: Record<string, string>;
  /** Functions not on a host driver that gpu-hookd did not put there (host/leftovers.ts), and how each stands. */
  leftovers: Record<string, string>;
  mode: GpuMode;
  owner: string;
  lastError: string;
  bootVga: boolean;
  /** Function address to the reset methods the kernel lists for it (src/host/pci-reset.ts). */
  resetMethods: Record<string, string[]>;
}

export type TransitionKind = 'detach' | 'attach';

export interface GpuServiceEvents {
  'gpu-changed': [address: string];
  'gpus-changed': [];
  'transition-started': [address: string, kind: TransitionKind, owner: string];
  'step-finished': [address: string, description: string, ms: number];
  /** ms: from the transition's start to its end (or its rollback's). */
  'transition-finished': [address: string, kind: TransitionKind, ok: boolean, error: string, ms: number];
}

export interface GpuServiceOptions {
  io: HostIO;
  engine: TransitionEngine;
  stateDir: string;
  log: Logger;
  /** Asks libvirt (read-only) whether a domain still runs; undefined = unknown, keep the claim. */
  isVmRunning?: (name: string) => Promise<boolean | undefined>;
  /** A VM's single-GPU handover settings from its <metadata> and the config ("" for a detach by
   *  hand); absent: GPUs move without a handover. Throws on invalid metadata. */
  handoverSettings?: (vm: string, metadata: Readonly<Record<string, string>>) => HandoverSettings;
  /** A VM's resetRisk setting (vmSettings of the current config); absent: "warn". */
  resetRiskPolicy?: (vm: string, metadata: Readonly<Record<string, string>>) => ResetRiskPolicy;
  /** A VM's CPUs: isolated at prepare (before its GPUs move), its QEMU pinned at started, restored at release. */
  cpus?: VmCpuManager;
}

export class GpuService extends EventEmitter<GpuServiceEvents> {
  /** What discovery last read of each GPU. */
  private readonly gpus = new Map<string, Gpu>();

  constructor(private readonly opts: GpuServiceOptions) {
    super();
  }

  private get ledger(): TransitionEngine['ledger'] {
    return this.opts.engine.ledger;
  }

  /**
   * Undoes a transition a crash interrupted, scans the GPUs, drops what the host does not bear out
   * (a record whose GPU is on its host drivers), and gives back GPUs of VMs that are gone: after a
   * crash at any moment, the daemon then stands where a fresh start on this host would.
   */
  async start(): Promise<void> {
    const recovery = await this.opts.engine.recover();
    for (const t of recovery.transitions) {
      const said = {
        restored: 'a transition interrupted by a crash was undone',
        stale: 'a journal from an earlier boot was dropped: that host state is gone',
        failed: `a transition interrupted by a crash could not be undone: ${t.error ?? ''}`,
        unreadable: `a journal could not be read and was kept for a person to look at: ${t.error ?? ''}`,
      }[t.outcome];
      const level = t.outcome === 'failed' || t.outcome === 'unreadable' ? 'error' : 'warn';
      this.opts.log[level]({ event: 'recovered', transition: t }, said);
    }
    await this.opts.cpus?.recover(this.opts.isVmRunning);
    this.rescan();
    await adoptOwnersFile(this.opts.stateDir, this.ledger, this.opts.log);
    const dropped = await this.ledger.reconcile((record) => {
      const gpu = this.gpus.get(record.gpu);
      return gpu === undefined ? undefined : gpu.functions.some((f) => f.driver === VFIO_DRIVER);
    });
    for (const address of dropped) {
      this.opts.log.warn({ event: 'reconcile', device: address }, `${address} is on its host drivers: its record (owner, host state) was dropped, as a crash had left it`);
    }
    await this.reconcileOwners();
  }

  rescan(): void {
    const found = listGpus(this.opts.io, this.discovery()).filter((g) => g.group.id !== null);
    const seen = new Set<string>();
    for (const gpu of found) {
      seen.add(gpu.address);
      this.gpus.set(gpu.address, gpu);
    }
    for (const address of [...this.gpus.keys()]) if (!seen.has(address)) this.gpus.delete(address);
    this.emit('gpus-changed');
  }

  list(): GpuView[] {
    return [...this.gpus.keys()].sort().map((a) => this.view(a));
  }

  view(address: string): GpuView {
    this.mustGet(address);
    const fresh = this.refreshGpu(address);
    return {
      address,
      name: fresh.name,
      iommuGroup: fresh.group.id ?? '',
      functions: fresh.functions.map((f) => f.address),
      drivers: Object.fromEntries(fresh.functions.map((f) => [f.address, f.driver ?? ''])),
      hostDrivers: this.recordedHostDrivers(address),
      leftovers: this.leftoversOf(fresh),
      mode: this.modeOf(fresh),
      owner: this.ledger.claimOf(address)?.vm ?? '',
      lastError: this.ledger.lastError(address),
      bootVga: fresh.bootVga,
      resetMethods: Object.fromEntries(fresh.functions.map((f) => [f.address, readFunctionResets(this.opts.io, f.address).methods])),
    };
  }

  /** With a record, the functions it found left by another tool; without, those the card shows now. */
  private leftoversOf(gpu: Gpu): Record<string, string> {
    let record: GpuRecord | undefined;
    try {
      record = this.ledger.load(gpu.address);
    } catch {
      return {};
    }
    if (record) {
      return Object.fromEntries(record.functions.flatMap((f) => (f.leftover ? [[f.address, `${describeBinding(f.leftover)} before gpu-hookd moved it`]] : [])));
    }
    const left = moveTargets(gpu).filter((f) => f.driver === VFIO_DRIVER || f.driverOverride === VFIO_DRIVER);
    return Object.fromEntries(left.map((f) => [f.address, `${describeBinding(f)}, not moved by gpu-hookd`]));
  }

  /** Whether the GPU's group may go to a VM once its card is on vfio-pci, as view() last read it. */
  viable(address: string): boolean {
    return gpuViability(this.mustGet(address)).viable;
  }

  private recordedHostDrivers(address: string): Record<string, string> {
    try {
      const record = this.ledger.load(address);
      return Object.fromEntries((record?.functions ?? []).map((f) => [f.address, f.driver ?? '']));
    } catch {
      return {};
    }
  }

  /** One line for `systemctl status` and the Status property. */
  status(): string {
    const views = this.list();
    const busy = views.filter((v) => v.mode !== 'host');
    if (busy.length === 0) {
      return `idle: ${views.length} GPU${views.length === 1 ? '' : 's'} on host drivers`;
    }
    return busy
      .map((v) => {
        const left = Object.entries(v.leftovers).map(([f, how]) => `${f} ${how}`).join(', ');
        if (v.mode === 'mixed') return `${v.address} not all on host drivers: ${left}`;
        if (v.mode === 'vfio') return `${v.address} on vfio-pci${v.owner ? ` for ${v.owner}` : Object.keys(v.hostDrivers).length > 0 ? ' (detached by hand)' : ` (${left})`}`;
        if (v.mode === 'failed') return `${v.address} failed: ${v.lastError}`;
        return `${v.address} ${v.mode}${v.owner ? ` for ${v.owner}` : ''}`;
      })
      .join('; ');
  }

  /** The GPUs (display addresses) a domain asks for: its PCI hostdevs and metadata GPUs, grouped by GPU. */
  gpusWanted(request: DomainRequest): string[] {
    const wanted = new Set<string>();
    for (const address of [...request.hostdevs.map((h) => h.address), ...request.metadataGpus]) {
      const gpu = this.gpuOfFunction(address);
      if (gpu) wanted.add(gpu);
      else if (request.metadataGpus.includes(address)) {
        throw new ServiceError('NotFound', `the domain's metadata names ${address}, which is not a GPU or a function of a GPU's IOMMU group on this host`);
      }
    }
    return [...wanted].sort();
  }

  async prepare(domain: string, xml: string): Promise<string[]> {
    const request = this.readRequest(domain, xml);
    const wanted = this.gpusWanted(request);
    if (wanted.length === 0) {
      await this.opts.cpus?.prepare(request);
      return [];
    }
    const handover = this.handoverFor(domain, request.settings);
    for (const address of wanted) this.weighResetRisk(address, domain, request.settings);
    // Claim every GPU first (synchronously): all or nothing.
    for (const address of wanted) this.assertClaimable(address, domain);
    const saves = wanted.map((address) => this.ledger.claim(address, { vm: domain, manual: this.ledger.claimOf(address)?.manual ?? false }));
    const moved: string[] = [];
    try {
      await Promise.all(saves);
      // The VM's CPUs first: a domain whose CPUs this host cannot honour is refused before a GPU moves.
      await this.opts.cpus?.prepare(request);
      for (const address of wanted) {
        await this.transition(address, 'detach', domain, handover, undefined, namedFunctions(request));
        moved.push(address);
      }
    } catch (e) {
      // Nothing half-done: GPUs this prepare already moved go back, and every claim is dropped.
      for (const address of this.opts.engine.inBootOrder(moved)) {
        await this.transition(address, 'attach', domain).catch((undoErr: unknown) =>
          this.opts.log.error({ event: 'rollback-failed', device: address, err: String(undoErr) }, 'could not give back a GPU'),
        );
      }
      await this.opts.cpus?.release(domain).catch((undoErr: unknown) =>
        this.opts.log.error({ event: 'rollback-failed', domain, err: toServiceError(undoErr).message }, 'could not give back the VM\'s CPUs'),
      );
      for (const address of wanted) await this.releaseClaim(address, domain);
      throw toServiceError(e);
    }
    return wanted;
  }

  async started(domain: string, xml: string): Promise<void> {
    this.readRequest(domain, xml);
    await this.opts.cpus?.started(domain);
  }

  /**
   * libvirtd restarted and found the domain running. Never fails for a running VM: a GPU it names that sits
   * on vfio-pci with no holder on record (state lost, e.g. a wiped state directory) is claimed for it again,
   * so that its release gives the GPU back; anything else is only logged.
   */
  async reconnect(domain: string, xml: string): Promise<void> {
    const request = this.readRequest(domain, xml);
    for (const address of this.gpusWanted(request)) {
      const own = this.ledger.claimOf(address);
      if (own?.vm === domain) continue;
      if (!own?.vm && this.modeOf(this.mustGet(address)) === 'vfio') {
        await this.ledger.claim(address, { vm: domain, manual: own?.manual ?? false });
        this.emit('gpu-changed', address);
        this.opts.log.warn({ event: 'reconnect', domain, device: address }, `${address} on vfio-pci had no holder on record: claimed for running VM ${domain}`);
        continue;
      }
      this.opts.log.warn({ event: 'reconnect', domain, device: address }, `running VM ${domain} names ${address}, which ${own?.vm ? `is held by ${own.vm}` : 'is on its host drivers'}`);
    }
  }

  async release(domain: string, xml: string): Promise<void> {
    validateDomainName(domain);
    if (xml.trim() !== '') this.readRequest(domain, xml);
    // In the order they bound at boot, so that each gets its card and fb numbers back (display-numbering.ts).
    const held = this.opts.engine.inBootOrder(this.ledger.heldBy(domain));
    const errors: ServiceError[] = [];
    for (const address of held) {
      const own = this.ledger.claimOf(address);
      try {
        // A GPU detached by hand before the VM took it stays on vfio-pci for the next VM.
        if (!own?.manual) await this.transition(address, 'attach', domain);
        await this.releaseClaim(address, domain);
      } catch (e) {
        errors.push(toServiceError(e));
        // The VM is gone: a GPU its give-back left whole on vfio-pci is in no one's hands, so that
        // gpu-hookctl attach may try the give-back again.
        if (modeFromKernel(this.refreshGpu(address)) === 'vfio') await this.releaseClaim(address, domain).catch((err: unknown) => errors.push(toServiceError(err)));
      }
    }
    // The reverse of prepare: the GPUs first, then the VM's CPUs.
    await this.opts.cpus?.release(domain).catch((e: unknown) => errors.push(toServiceError(e)));
    if (errors.length > 0) throw errors[0];
  }

  async detachByHand(addressInput: string): Promise<void> {
    const address = this.requireGpu(addressInput);
    const own = this.ledger.claimOf(address);
    if (own?.vm) throw new ServiceError('Busy', `${address} is held by VM ${own.vm}: it is already on vfio-pci`);
    this.assertNotMoving(address);
    const claim = this.ledger.claim(address, { vm: '', manual: true });
    try {
      await claim;
      await this.transition(address, 'detach', '', this.handoverFor('', {}), true);
    } catch (e) {
      await this.ledger.unclaim(address);
      throw toServiceError(e);
    }
  }

  async attachByHand(addressInput: string): Promise<void> {
    const address = this.requireGpu(addressInput);
    const own = this.ledger.claimOf(address);
    if (own?.vm) {
      throw new ServiceError('Busy', `${address} is held by VM ${own.vm}: shut the VM down first (virsh shutdown ${own.vm})`);
    }
    this.assertNotMoving(address);
    await this.transition(address, 'attach', '');
    await this.ledger.unclaim(address);
  }

  /** Refuses (policy "refuse") or warns about a GPU known to come back broken, before any change. */
  private weighResetRisk(address: string, vm: string, metadata: Readonly<Record<string, string>>): void {
    let policy: ResetRiskPolicy;
    try {
      policy = this.opts.resetRiskPolicy?.(vm, metadata) ?? 'warn';
    } catch (e) {
      throw new ServiceError('InvalidArgument', (e as Error).message);
    }
    const verdict = resetVerdict(vm, address, readGpuResets(this.opts.io, this.mustGet(address)), policy);
    if (verdict && 'refuse' in verdict) throw new ServiceError('NotViable', verdict.refuse);
    if (verdict) this.opts.log.warn({ event: 'reset-risk', domain: vm, device: address }, verdict.warn);
  }

  private handoverFor(vm: string, metadata: Readonly<Record<string, string>>): HandoverSettings | undefined {
    try {
      return this.opts.handoverSettings?.(vm, metadata);
    } catch (e) {
      throw new ServiceError('InvalidArgument', (e as Error).message);
    }
  }

  private async transition(address: string, kind: TransitionKind, owner: string, handover?: HandoverSettings, manual?: boolean, named?: string[]): Promise<void> {
    this.mustGet(address);
    const onStep = (e: StepEvent): void => {
      if (e.phase === 'do' && e.status === 'finished') this.emit('step-finished', address, e.description, e.ms ?? 0);
    };
    const started = performance.now();
    // The engine tells the ledger at once that the GPU is moving, and how it ended.
    const run = kind === 'detach' ? this.opts.engine.detach(address, { owner, onStep, handover, manual, named }) : this.opts.engine.attach(address, { onStep });
    this.emit('gpu-changed', address);
    this.emit('transition-started', address, kind, owner);
    try {
      await run;
      this.refreshGpu(address);
      this.emit('gpu-changed', address);
      this.emit('transition-finished', address, kind, true, '', performance.now() - started);
    } catch (e) {
      const err = toServiceError(e);
      this.refreshGpu(address);
      this.emit('gpu-changed', address);
      this.emit('transition-finished', address, kind, false, err.message, performance.now() - started);
      throw err;
    }
  }

  private readRequest(domain: string, xml: string): DomainRequest {
    validateDomainName(domain);
    return readDomainRequest(xml, domain);
  }

  private assertClaimable(address: string, domain: string): void {
    const own = this.ledger.claimOf(address);
    if (own?.vm && own.vm !== domain) {
      throw new ServiceError('Busy', `${address} is held by VM ${own.vm}: stop that VM or remove the GPU from ${domain}`);
    }
    this.assertNotMoving(address);
  }

  private assertNotMoving(address: string): void {
    this.mustGet(address);
    const mode = this.ledger.motion(address);
    if (mode !== undefined) {
      throw new ServiceError('Busy', `${address} is ${mode} right now: try again when it has finished`);
    }
  }

  private releaseClaim(address: string, domain: string): Promise<void> {
    if (this.ledger.claimOf(address)?.vm !== domain) return Promise.resolve();
    const saved = this.ledger.unclaim(address, domain);
    // Owner is part of the GPU's view: announce it now, not at the next transition.
    this.emit('gpu-changed', address);
    return saved;
  }

  private async reconcileOwners(): Promise<void> {
    const check = this.opts.isVmRunning;
    for (const address of [...this.gpus.keys()].sort()) {
      const own = this.ledger.claimOf(address);
      if (!own?.vm || !check) continue;
      const running = await check(own.vm).catch(() => undefined);
      if (running !== false) continue;
      this.opts.log.warn({ event: 'reconcile', device: address, domain: own.vm }, 'VM no longer runs: giving its GPU back');
      await this.release(own.vm, '').catch((e: unknown) =>
        this.opts.log.error({ event: 'reconcile-failed', device: address, err: toServiceError(e).message }, 'could not give back a GPU'),
      );
    }
  }

  private requireGpu(addressInput: string): string {
    const address = parsePciAddress(addressInput);
    const gpu = this.gpuOfFunction(address);
    if (gpu) return gpu;
    // Let discovery say precisely why (unknown device, not a GPU, not in a GPU's group).
    findGpuForAddress(this.opts.io, address, this.discovery());
    throw new ServiceError('NotFound', `${address} is not a GPU or a function of a GPU's IOMMU group on this host`);
  }

  private gpuOfFunction(address: string): string | undefined {
    for (const [gpuAddress, gpu] of this.gpus) {
      if (gpuAddress === address || gpu.group.members.some((m) => m.address === address)) return gpuAddress;
    }
    return undefined;
  }

  private refreshGpu(address: string): Gpu {
    try {
      this.gpus.set(address, findGpuForAddress(this.opts.io, address, this.discovery()));
    } catch {
      // The device vanished (hot unplug): keep the last view; the next rescan drops it.
    }
    return this.mustGet(address);
  }

  /** Moving, as the ledger says; failed when a transition left the host half-way (the kernel's
   *  drivers cannot tell) or a function is left to the kernel; else as the kernel's drivers say. */
  private modeOf(gpu: Gpu): GpuMode {
    const moving = this.ledger.motion(gpu.address);
    if (moving) return moving;
    if (this.ledger.failure(gpu.address) !== undefined || this.hasFunctionLeftToKernel(gpu)) return 'failed';
    return modeFromKernel(gpu);
  }

  /** Never reads the driver_override of a function the kernel is still unbinding: that read would freeze the daemon. */
  private discovery(): DiscoveryOptions {
    return { unreadable: this.opts.engine.leftToKernel() };
  }

  private hasFunctionLeftToKernel(gpu: Gpu): boolean {
    const left = this.opts.engine.leftToKernel();
    return gpu.functions.some((f) => left.has(f.address));
  }

  private mustGet(address: string): Gpu {
    const state = this.gpus.get(address);
    if (!state) throw new ServiceError('NotFound', `no GPU ${address} on this host (gpu-hookctl list shows the GPUs)`);
    return state;
  }
}

/** From the card's functions (the rest of the group moves only when a domain names it): all on
 *  vfio-pci, some (another tool's leftovers), or none. */
function modeFromKernel(gpu: Gpu): GpuMode {
  const card = moveTargets(gpu);
  const onVfio = card.filter((f) => f.driver === VFIO_DRIVER).length;
  if (onVfio === 0) return 'host';
  return onVfio === card.length ? 'vfio' : 'mixed';
}

/** The functions a domain names as its own: its PCI hostdevs and the GPUs of its metadata. */
function namedFunctions(request: DomainRequest): string[] {
  return [...request.hostdevs.map((h) => h.address), ...request.metadataGpus];
}

export type { Claim };
