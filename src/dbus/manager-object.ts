// org.gpuhookd1.Manager: translates bus calls into GpuService calls and nothing more. Every method
// checks access for mutating calls and goes through guarded(), so callers only ever see named errors.

import * as dbus from 'dbus-next';
import { contractInterface, dbusNextMembers, gpuObjectPath, MANAGER_IFACE } from './contract';
import { guarded } from './dbus-errors';
import type { CallerAccess } from './caller-access';
import type { GpuService } from '../daemon/gpu-service';
import { ServiceError } from '../daemon/service-error';
import { MAX_DOMAIN_XML_BYTES } from '../libvirt/domain-request';

export interface ManagerHooks {
  version: string;
  reload: () => Promise<void>;
  /** False while the daemon is stopping: new transitions are refused. */
  accepting: () => boolean;
  /** Told of every mutating call as it starts, so that stopping can wait until its caller has the answer. */
  onCall?: (call: Promise<unknown>) => void;
}

export class ManagerInterface extends dbus.interface.Interface {
  private lastStatus: string;
  private lastGpus: string[];

  constructor(
    private readonly service: GpuService,
    private readonly access: CallerAccess,
    private readonly hooks: ManagerHooks,
  ) {
    super(MANAGER_IFACE);
    this.lastStatus = service.status();
    this.lastGpus = this.gpuPaths();
  }

  get Version(): string {
    return this.hooks.version;
  }
  get Gpus(): string[] {
    return this.gpuPaths();
  }
  get Status(): string {
    return this.service.status();
  }

  /** Emits PropertiesChanged for Status / Gpus when they differ from what was last announced. */
  refresh(): void {
    const changed: Record<string, unknown> = {};
    const status = this.service.status();
    if (status !== this.lastStatus) changed.Status = this.lastStatus = status;
    const gpus = this.gpuPaths();
    if (JSON.stringify(gpus) !== JSON.stringify(this.lastGpus)) changed.Gpus = this.lastGpus = gpus;
    if (Object.keys(changed).length > 0) dbus.interface.Interface.emitPropertiesChanged(this, changed, []);
  }

  Prepare(domain: string, xml: string): Promise<string[]> {
    return this.mutating('Prepare', [domain, xml], () => this.service.prepare(domain, xml));
  }
  Started(domain: string, xml: string): Promise<void> {
    return this.mutating('Started', [domain, xml], () => this.service.started(domain, xml));
  }
  Release(domain: string, xml: string): Promise<void> {
    return this.mutating('Release', [domain, xml], () => this.service.release(domain, xml), true);
  }
  Reconnect(domain: string, xml: string): Promise<void> {
    return this.mutating('Reconnect', [domain, xml], () => this.service.reconnect(domain, xml), true);
  }
  Detach(address: string): Promise<void> {
    return this.mutating('Detach', [address], () => this.service.detachByHand(address));
  }
  Attach(address: string): Promise<void> {
    return this.mutating('Attach', [address], () => this.service.attachByHand(address));
  }
  Reload(): Promise<void> {
    return this.mutating('Reload', [], () => this.hooks.reload(), true);
  }

  TransitionStarted(gpu: string, kind: string, owner: string): unknown[] {
    return [gpu, kind, owner];
  }
  StepFinished(gpu: string, description: string, durationUs: bigint): unknown[] {
    return [gpu, description, durationUs];
  }
  TransitionFinished(gpu: string, kind: string, ok: boolean, error: string): unknown[] {
    return [gpu, kind, ok, error];
  }

  private gpuPaths(): string[] {
    return this.service.list().map((g) => gpuObjectPath(g.address));
  }

  private mutating<T>(member: string, args: string[], work: () => Promise<T>, allowWhileStopping = false): Promise<T> {
    const sender = this.access.capture();
    const call = guarded(async () => {
      await this.access.assertMayChange(sender, member);
      if (args.some((a) => typeof a !== 'string' || Buffer.byteLength(a) > MAX_DOMAIN_XML_BYTES)) {
        throw new ServiceError('InvalidArgument', `an argument of ${member} is larger than ${MAX_DOMAIN_XML_BYTES / 1024} KiB: refusing it`);
      }
      if (!allowWhileStopping && !this.hooks.accepting()) {
        throw new ServiceError('Busy', 'gpu-hookd is stopping: try again once it has restarted');
      }
      return work();
    });
    this.hooks.onCall?.(call);
    return call;
  }
}

ManagerInterface.configureMembers(dbusNextMembers(contractInterface(MANAGER_IFACE)));
