// The daemon's brain, free of D-Bus: which GPUs exist, who holds each, and the hook's phases turned
// into engine transitions. Claims are taken synchronously before any await, so two VMs racing for
// one GPU cannot both win; transitions of one GPU are serialised by the engine's per-device lock.

import { EventEmitter } from 'node:events';
import type { HostIO } from '../host/host-io';
import { parsePciAddress } from '../host/pci-address';
import type { Gpu } from '../host/pci-device';
import { listGpus, findGpuForAddress, type DiscoveryOptions } from '../host/gpu-inventory';
import { readDomainRequest, validateDomainName, type DomainRequest } from '../libvirt/domain-request';
import type { TransitionEngine, StepEvent } from '../engine/transition-engine';
import type { HandoverSettings } from '../engine/handover-plan';
import type { VmCpuManager } from '../cpu/vm-cpu-manager';
import { OwnershipStore, type Ownership } from './ownership-store';
import { ServiceError, toServiceError } from './service-error';
import type { Logger } from 'pino';

export type GpuMode = 'host' | 'vfio' | 'detaching' | 'attaching' | 'failed';

export interface GpuView {
  address: string;
  name: string;
  iommuGroup: string;
  functions: string[];
  drivers: Record<string, string>;
  hostDrivers: Record<string, string>;
  mode: GpuMode;
  owner: string;
  lastError: string;
  bootVga: boolean;
}

export type TransitionKind = 'detach' | 'attach';

export interface GpuServiceEvents {
  'gpu-changed': [address: string];
  'gpus-changed': [];
  'transition-started': [address: string, kind: TransitionKind, owner: string];
  'step-finished': [address: string, description: string, ms: number];
  'transition-finished': [address: string, kind: TransitionKind, ok: boolean, error: string];
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
  /** A VM's CPUs: isolated at prepare (before its GPUs move), its QEMU pinned at started, restored at release. */
  cpus?: VmCpuManager;
}

interface GpuState {
  gpu: Gpu;
  mode: GpuMode;
  lastError: string;
}

export class GpuService extends EventEmitter<GpuServiceEvents> {
  private readonly gpus = new Map<string, GpuState>();
  private readonly owners: OwnershipStore;

  constructor(private readonly opts: GpuServiceOptions) {
    super();
    this.owners = new OwnershipStore(opts.stateDir);
  }

  /** Finishes or undoes a transition a crash interrupted, scans the GPUs, and gives back GPUs of VMs that are gone. */
  async start(): Promise<void> {
    const recovery = await this.opts.engine.recover();
    const failed = new Map<string, string>();
    for (const t of recovery.transitions) {
      const said = {
        restored: 'a transition interrupted by a crash was undone',
        stale: 'a journal from an earlier boot was dropped: that host state is gone',
        failed: `a transition interrupted by a crash could not be undone: ${t.error ?? ''}`,
        unreadable: `a journal could not be read and was kept for a person to look at: ${t.error ?? ''}`,
      }[t.outcome];
      const level = t.outcome === 'failed' || t.outcome === 'unreadable' ? 'error' : 'warn';
      this.opts.log[level]({ event: 'recovered', transition: t }, said);
      if (t.outcome === 'failed' && t.gpu) failed.set(t.gpu, t.error ?? '');
      // An undone detach left the GPU on its host drivers: the claim taken for it (a VM whose start
      // failed with us, or a Detach by hand) holds nothing any more.
      if (t.kind === 'detach' && t.gpu && (t.outcome === 'restored' || t.outcome === 'stale')) await this.owners.delete(t.gpu);
    }
    await this.opts.cpus?.recover(this.opts.isVmRunning);
    this.rescan();
    // The kernel's drivers do not tell that the host is half-way: the kept journal does.
    for (const [address, error] of failed) {
      const state = this.gpus.get(address);
      if (!state) continue;
      state.mode = 'failed';
      state.lastError = error;
    }
    await this.reconcileOwners();
  }

  rescan(): void {
    const found = listGpus(this.opts.io, this.discovery()).filter((g) => g.group.id !== null);
    const seen = new Set<string>();
    for (const gpu of found) {
      seen.add(gpu.address);
      const prev = this.gpus.get(gpu.address);
      const mode = prev && (prev.mode === 'detaching' || prev.mode === 'attaching' || prev.mode === 'failed') ? prev.mode : modeFromKernel(gpu);
      this.gpus.set(gpu.address, { gpu, mode, lastError: prev?.lastError ?? '' });
    }
    for (const address of [...this.gpus.keys()]) if (!seen.has(address)) this.gpus.delete(address);
    this.emit('gpus-changed');
  }

  list(): GpuView[] {
    return [...this.gpus.keys()].sort().map((a) => this.view(a));
  }

  view(address: string): GpuView {
    const state = this.mustGet(address);
    const own = this.owners.get(address);
    const fresh = this.refreshGpu(state);
    return {
      address,
      name: fresh.name,
      iommuGroup: fresh.group.id ?? '',
      functions: fresh.functions.map((f) => f.address),
      drivers: Object.fromEntries(fresh.functions.map((f) => [f.address, f.driver ?? ''])),
      hostDrivers: this.recordedHostDrivers(address),
      mode: state.mode,
      owner: own?.vm ?? '',
      lastError: state.lastError,
      bootVga: fresh.bootVga,
    };
  }

  private recordedHostDrivers(address: string): Record<string, string> {
    try {
      const record = this.opts.engine.records.load(address);
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
        if (v.mode === 'vfio') return `${v.address} on vfio-pci${v.owner ? ` for ${v.owner}` : ' (detached by hand)'}`;
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
    // Claim every GPU first (synchronously): all or nothing.
    for (const address of wanted) this.assertClaimable(address, domain);
    const saves = wanted.map((address) => this.owners.set(address, { vm: domain, manual: this.owners.get(address)?.manual ?? false }));
    const moved: string[] = [];
    try {
      await Promise.all(saves);
      // The VM's CPUs first: a domain whose CPUs this host cannot honour is refused before a GPU moves.
      await this.opts.cpus?.prepare(request);
      for (const address of wanted) {
        await this.transition(address, 'detach', domain, handover);
        moved.push(address);
      }
    } catch (e) {
      // Nothing half-done: GPUs this prepare already moved go back, and every claim is dropped.
      for (const address of moved.reverse()) {
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
      const own = this.owners.get(address);
      if (own?.vm === domain) continue;
      if (!own?.vm && this.mustGet(address).mode === 'vfio') {
        await this.owners.set(address, { vm: domain, manual: own?.manual ?? false });
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
    const held = this.owners.heldBy(domain);
    const errors: ServiceError[] = [];
    for (const address of held) {
      const own = this.owners.get(address);
      try {
        // A GPU detached by hand before the VM took it stays on vfio-pci for the next VM.
        if (!own?.manual) await this.transition(address, 'attach', domain);
        await this.releaseClaim(address, domain);
      } catch (e) {
        errors.push(toServiceError(e));
      }
    }
    // The reverse of prepare: the GPUs first, then the VM's CPUs.
    await this.opts.cpus?.release(domain).catch((e: unknown) => errors.push(toServiceError(e)));
    if (errors.length > 0) throw errors[0];
  }

  async detachByHand(addressInput: string): Promise<void> {
    const address = this.requireGpu(addressInput);
    const own = this.owners.get(address);
    if (own?.vm) throw new ServiceError('Busy', `${address} is held by VM ${own.vm}: it is already on vfio-pci`);
    this.assertNotMoving(address);
    const claim = this.owners.set(address, { vm: '', manual: true });
    try {
      await claim;
      await this.transition(address, 'detach', '', this.handoverFor('', {}));
    } catch (e) {
      await this.owners.delete(address);
      throw toServiceError(e);
    }
  }

  async attachByHand(addressInput: string): Promise<void> {
    const address = this.requireGpu(addressInput);
    const own = this.owners.get(address);
    if (own?.vm) {
      throw new ServiceError('Busy', `${address} is held by VM ${own.vm}: shut the VM down first (virsh shutdown ${own.vm})`);
    }
    this.assertNotMoving(address);
    await this.transition(address, 'attach', '');
    await this.owners.delete(address);
  }

  private handoverFor(vm: string, metadata: Readonly<Record<string, string>>): HandoverSettings | undefined {
    try {
      return this.opts.handoverSettings?.(vm, metadata);
    } catch (e) {
      throw new ServiceError('InvalidArgument', (e as Error).message);
    }
  }

  private async transition(address: string, kind: TransitionKind, owner: string, handover?: HandoverSettings): Promise<void> {
    const state = this.mustGet(address);
    state.mode = kind === 'detach' ? 'detaching' : 'attaching';
    this.emit('gpu-changed', address);
    this.emit('transition-started', address, kind, owner);
    const onStep = (e: StepEvent): void => {
      if (e.phase === 'do' && e.status === 'finished') this.emit('step-finished', address, e.description, e.ms ?? 0);
    };
    try {
      const run = kind === 'detach' ? this.opts.engine.detach(address, { owner, onStep, handover }) : this.opts.engine.attach(address, { onStep });
      await run;
      state.mode = kind === 'detach' ? 'vfio' : 'host';
      state.lastError = '';
      this.emit('gpu-changed', address);
      this.emit('transition-finished', address, kind, true, '');
    } catch (e) {
      const err = toServiceError(e);
      state.lastError = err.message;
      this.refreshGpu(state);
      // The engine keeps the journal only when its rollback failed: then the host is not as it was.
      const unrestored = Boolean((e as { details?: { journal?: string } }).details?.journal);
      state.mode = unrestored || this.hasFunctionLeftToKernel(state.gpu) ? 'failed' : modeFromKernel(state.gpu);
      this.emit('gpu-changed', address);
      this.emit('transition-finished', address, kind, false, err.message);
      throw err;
    }
  }

  private readRequest(domain: string, xml: string): DomainRequest {
    validateDomainName(domain);
    return readDomainRequest(xml, domain);
  }

  private assertClaimable(address: string, domain: string): void {
    const own = this.owners.get(address);
    if (own?.vm && own.vm !== domain) {
      throw new ServiceError('Busy', `${address} is held by VM ${own.vm}: stop that VM or remove the GPU from ${domain}`);
    }
    this.assertNotMoving(address);
  }

  private assertNotMoving(address: string): void {
    const mode = this.mustGet(address).mode;
    if (mode === 'detaching' || mode === 'attaching') {
      throw new ServiceError('Busy', `${address} is ${mode} right now: try again when it has finished`);
    }
  }

  private releaseClaim(address: string, domain: string): Promise<void> {
    const own = this.owners.get(address);
    if (own?.vm !== domain) return Promise.resolve();
    const saved = own.manual ? this.owners.set(address, { vm: '', manual: true }) : this.owners.delete(address);
    // Owner is part of the GPU's view: announce it now, not at the next transition.
    this.emit('gpu-changed', address);
    return saved;
  }

  private async reconcileOwners(): Promise<void> {
    const check = this.opts.isVmRunning;
    for (const [address, own] of this.owners.entries()) {
      if (!this.gpus.has(address)) continue;
      if (!own.vm || !check) continue;
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
    for (const [gpuAddress, state] of this.gpus) {
      if (gpuAddress === address || state.gpu.group.members.some((m) => m.address === address)) return gpuAddress;
    }
    return undefined;
  }

  private refreshGpu(state: GpuState): Gpu {
    try {
      state.gpu = findGpuForAddress(this.opts.io, state.gpu.address, this.discovery());
    } catch {
      // The device vanished (hot unplug): keep the last view; the next rescan drops it.
    }
    return state.gpu;
  }

  /** Never reads the driver_override of a function the kernel is still unbinding: that read would freeze the daemon. */
  private discovery(): DiscoveryOptions {
    return { unreadable: this.opts.engine.leftToKernel() };
  }

  private hasFunctionLeftToKernel(gpu: Gpu): boolean {
    const left = this.opts.engine.leftToKernel();
    return gpu.functions.some((f) => left.has(f.address));
  }

  private mustGet(address: string): GpuState {
    const state = this.gpus.get(address);
    if (!state) throw new ServiceError('NotFound', `no GPU ${address} on this host (gpu-hookctl list shows the GPUs)`);
    return state;
  }
}

function modeFromKernel(gpu: Gpu): GpuMode {
  return gpu.functions.length > 0 && gpu.functions.every((f) => f.driver === 'vfio-pci') ? 'vfio' : 'host';
}

export type { Ownership };
