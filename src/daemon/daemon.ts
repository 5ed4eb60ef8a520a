// The daemon's lifecycle, independent of how it was started (main.ts for systemd, tests and the demo
// call startDaemon directly): recover and scan the host, publish on the bus, keep `systemctl status`
// current, and stop only between transitions.

import type { Logger } from 'pino';
import { openHostIO } from '../host/open-host-io';
import { TransitionEngine, type EngineTimeouts } from '../engine/transition-engine';
import { connectBus, exportService, type BusService } from '../dbus/bus-service';
import { GpuService } from './gpu-service';

export interface StatusNotifier {
  ready(): void;
  status(text: string): void;
  stopping(): void;
}

export interface DaemonOptions {
  root: string;
  /** "" or undefined: the system bus. */
  busAddress?: string;
  stateDir: string;
  accessGroup: string;
  version: string;
  log: Logger;
  notifier?: StatusNotifier;
  timeouts?: Partial<EngineTimeouts>;
  isVmRunning?: (name: string) => Promise<boolean | undefined>;
  /** Re-reads the config; the daemon then rescans the host. */
  reloadConfig?: () => Promise<void>;
}

export interface RunningDaemon {
  service: GpuService;
  engine: TransitionEngine;
  bus: BusService;
  /** Refuses new transitions, waits for the ones in flight to finish or roll back, leaves the bus. */
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const io = openHostIO(opts.root);
  const engine = new TransitionEngine({ io, stateDir: opts.stateDir, log: opts.log, timeouts: opts.timeouts });
  const service = new GpuService({ io, engine, stateDir: opts.stateDir, log: opts.log, isVmRunning: opts.isVmRunning });
  await service.start();

  let accepting = true;
  const inFlight = new Set<Promise<unknown>>();
  const track = (address: string, kind: string): void => {
    // A transition's end is announced as an event; remember a promise per running transition so that
    // stop() can wait for all of them.
    const done = new Promise<void>((resolve) => {
      const onEnd = (a: string, k: string): void => {
        if (a !== address || k !== kind) return;
        service.off('transition-finished', onEnd);
        resolve();
      };
      service.on('transition-finished', onEnd);
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };
  service.on('transition-started', track);

  const publishStatus = (): void => opts.notifier?.status(service.status());
  service.on('gpu-changed', publishStatus);
  service.on('gpus-changed', publishStatus);

  const bus = await exportService(connectBus(opts.busAddress || undefined), service, {
    version: opts.version,
    accessGroup: opts.accessGroup,
    accepting: () => accepting,
    reload: async () => {
      await opts.reloadConfig?.();
      service.rescan();
    },
  });
  opts.log.info({ event: 'ready', root: opts.root, gpus: service.list().length }, `gpu-hookd ready: ${service.status()}`);
  opts.notifier?.ready();
  publishStatus();

  return {
    service,
    engine,
    bus,
    stop: async () => {
      accepting = false;
      opts.notifier?.stopping();
      opts.log.info({ event: 'stopping', inFlight: inFlight.size }, 'gpu-hookd stopping');
      await Promise.all([...inFlight]);
      service.off('transition-started', track);
      bus.close();
    },
  };
}
