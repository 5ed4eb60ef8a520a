// Puts the GpuService on the bus: one Manager object, one Gpu object per GPU, service events turned
// into PropertiesChanged and the transition signals. Owning the name comes last, so a client that
// sees org.gpuhookd1 can use every object at once.

import * as dbus from 'dbus-next';
import { BUS_NAME, gpuObjectPath, MANAGER_PATH } from './contract';
import { CallerAccess } from './caller-access';
import { GpuInterface } from './gpu-object';
import { ManagerInterface, type ManagerHooks } from './manager-object';
import type { GpuService } from '../daemon/gpu-service';

export interface BusService {
  bus: dbus.MessageBus;
  access: CallerAccess;
  close(): void;
}

/** Connects to the system bus, or to `address` (a private bus in tests and the demo). */
export function connectBus(address?: string): dbus.MessageBus {
  // dbus-next's systemBus() only reads DBUS_SYSTEM_BUS_ADDRESS; an explicit address goes through the
  // "session" constructor, which sends Hello like any other connection.
  return address ? dbus.sessionBus({ busAddress: address }) : dbus.systemBus();
}

export async function exportService(
  bus: dbus.MessageBus,
  service: GpuService,
  opts: ManagerHooks & { accessGroup: string },
): Promise<BusService> {
  const access = new CallerAccess(bus, opts.accessGroup);
  const manager = new ManagerInterface(service, access, opts);
  bus.export(MANAGER_PATH, manager);

  const gpuObjects = new Map<string, GpuInterface>();
  const syncGpuObjects = (): void => {
    const present = new Set(service.list().map((g) => g.address));
    for (const address of present) {
      if (gpuObjects.has(address)) continue;
      const obj = new GpuInterface(() => service.view(address));
      gpuObjects.set(address, obj);
      bus.export(gpuObjectPath(address), obj);
    }
    for (const [address, obj] of gpuObjects) {
      if (present.has(address)) continue;
      bus.unexport(gpuObjectPath(address), obj);
      gpuObjects.delete(address);
    }
    manager.refresh();
  };
  syncGpuObjects();

  const onGpuChanged = (address: string): void => {
    gpuObjects.get(address)?.refresh();
    manager.refresh();
  };
  const onStarted = (address: string, kind: string, owner: string): void =>
    manager.TransitionStarted(gpuObjectPath(address), kind, owner) as unknown as void;
  const onStep = (address: string, description: string, ms: number): void =>
    manager.StepFinished(gpuObjectPath(address), description, BigInt(Math.round(ms * 1000))) as unknown as void;
  const onFinished = (address: string, kind: string, ok: boolean, error: string): void =>
    manager.TransitionFinished(gpuObjectPath(address), kind, ok, error) as unknown as void;
  service.on('gpus-changed', syncGpuObjects);
  service.on('gpu-changed', onGpuChanged);
  service.on('transition-started', onStarted);
  service.on('step-finished', onStep);
  service.on('transition-finished', onFinished);

  const reply = await bus.requestName(BUS_NAME, dbus.NameFlag.DO_NOT_QUEUE);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER && reply !== dbus.RequestNameReply.ALREADY_OWNER) {
    bus.disconnect();
    throw new Error(`another process already owns ${BUS_NAME} on this bus: is gpu-hookd already running? (systemctl status gpu-hookd)`);
  }

  return {
    bus,
    access,
    close: () => {
      service.off('gpus-changed', syncGpuObjects);
      service.off('gpu-changed', onGpuChanged);
      service.off('transition-started', onStarted);
      service.off('step-finished', onStep);
      service.off('transition-finished', onFinished);
      bus.disconnect();
    },
  };
}
