// The daemon's lifecycle, independent of how it was started (main.ts for systemd; the simulated
// daemon of the tests and the demo, src/sim/daemon-main.ts, runs the same main with the simulator's
// host): recover and scan the host, publish on the bus, keep `systemctl status` current, and stop
// only between transitions.

import type { Logger } from 'pino';
import type { HostIO } from '../host/host-io';
import { TransitionEngine, type EngineTimeouts } from '../engine/transition-engine';
import { connectBus, exportService, type BusService } from '../dbus/bus-service';
import { GpuService } from './gpu-service';
import { hostServicesOn } from '../host/host-services';
import type { HandoverSettings } from '../engine/handover-plan';
import type { ResetRiskPolicy } from './config-schema';
import type { ProcessAccess } from '../cpu/process-access';
import { systemdAllowedCpus } from '../cpu/systemd-allowed-cpus';
import { NO_CPU_WORK, type CpuSettings } from '../cpu/vm-cpu-layout';
import { VmCpuManager } from '../cpu/vm-cpu-manager';
import { startMetricsPublisher } from '../metrics/metrics-publisher';
import { DEFAULT_METRICS_DIR } from './config-schema';
import { logTransitions } from './transition-events';

export interface StatusNotifier {
  ready(): void;
  status(text: string): void;
  stopping(): void;
}

/** The host the daemon works on: its kernel I/O and its processes, chosen by the process's entry. */
export interface DaemonHost {
  io: HostIO;
  processes: ProcessAccess;
}

export interface DaemonOptions {
  host: DaemonHost;
  /** "" or undefined: the system bus. */
  busAddress?: string;
  stateDir: string;
  /** node_exporter's textfile directory for gpu-hookd.prom; "" or undefined: no metrics. */
  metricsDir?: string;
  accessGroup: string;
  version: string;
  log: Logger;
  notifier?: StatusNotifier;
  timeouts?: Partial<EngineTimeouts>;
  isVmRunning?: (name: string) => Promise<boolean | undefined>;
  /** Re-reads the config; the daemon then rescans the host. */
  reloadConfig?: () => Promise<void>;
  /** A VM's single-GPU handover settings (vmSettings of the current config); absent: no handover. */
  handoverSettings?: (vm: string, metadata: Readonly<Record<string, string>>) => HandoverSettings;
  /** A VM's resetRisk setting (vmSettings of the current config); absent: "warn". */
  resetRiskPolicy?: (vm: string, metadata: Readonly<Record<string, string>>) => ResetRiskPolicy;
  /** A VM's CPU isolation and pinning settings (vmSettings of the current config); absent: none. */
  cpuSettings?: (vm: string, metadata: Readonly<Record<string, string>>) => CpuSettings;
}

export interface RunningDaemon {
  service: GpuService;
  engine: TransitionEngine;
  bus: BusService;
  /** Refuses new transitions, waits for the calls in flight to finish (or roll back) and be answered, leaves the bus. */
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const { io, processes } = opts.host;
  // systemd and logind are reached on the bus the daemon serves on, before serving: recovering an
  // interrupted handover may have to start the display manager again.
  const connection = connectBus(opts.busAddress || undefined);
  const services = hostServicesOn(connection);
  const engine = new TransitionEngine({ io, processes, stateDir: opts.stateDir, log: opts.log, timeouts: opts.timeouts, services });
  // Made even without settings: CPU changes recorded by an earlier run are still given back.
  const cpus = new VmCpuManager({
    io,
    processes,
    systemd: systemdAllowedCpus(services.systemd),
    stateDir: opts.stateDir,
    settingsFor: opts.cpuSettings ?? (() => NO_CPU_WORK),
    log: opts.log,
    timeouts: opts.timeouts,
  });
  const service = new GpuService({ io, engine, cpus, stateDir: opts.stateDir, log: opts.log, isVmRunning: opts.isVmRunning, handoverSettings: opts.handoverSettings, resetRiskPolicy: opts.resetRiskPolicy });
  try {
    await service.start();
  } catch (e) {
    connection.disconnect();
    throw e;
  }

  let accepting = true;
  // Every transition runs inside a bus call: waiting for the calls waits for the transitions, and
  // for the answers their callers (the libvirt hook) are waiting for.
  const inFlight = new Set<Promise<unknown>>();
  const onCall = (call: Promise<unknown>): void => {
    inFlight.add(call);
    const forget = (): void => void inFlight.delete(call);
    call.then(forget, forget);
  };

  logTransitions(service, opts.log);
  const publishStatus = (): void => opts.notifier?.status(service.status());
  service.on('gpu-changed', publishStatus);
  service.on('gpus-changed', publishStatus);

  const bus = await exportService(connection, service, {
    version: opts.version,
    accessGroup: opts.accessGroup,
    accepting: () => accepting,
    onCall,
    reload: async () => {
      await opts.reloadConfig?.();
      service.rescan();
    },
  });
  // Once the name is ours: a second daemon that fails to own it must not write over the first's file.
  const metrics = opts.metricsDir ? await startMetricsPublisher({
        service,
        dir: opts.metricsDir,
        version: opts.version,
        log: opts.log,
        missingIsNormal: opts.metricsDir === DEFAULT_METRICS_DIR,
      }) : undefined;
  opts.log.info({ event: 'ready', root: io.root, gpus: service.list().length }, `gpu-hookd ready: ${service.status()}`);
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
      // Calls still allowed while stopping (Release) may start while others finish.
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      // dbus-next sends a reply once the call's promise settles: let it go out before leaving the bus.
      await new Promise((resolve) => setImmediate(resolve));
      await services.close();
      await metrics?.stop();
      bus.close();
    },
  };
}
