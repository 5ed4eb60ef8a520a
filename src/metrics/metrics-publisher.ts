// Keeps node_exporter's textfile current: listens to the GpuService's events, tallies transitions
// and rewrites the file after every change (changes of one tick make one write; writes run one
// after another, so the file ends with the latest state). A directory that is missing or closed
// to the daemon costs one warning, not the daemon: the next change tries again. The default
// directory missing only means node_exporter is not installed: that is said at info level.

import * as path from 'node:path';
import type { Logger } from 'pino';
import { VFIO_DRIVER } from '../host/pci-device';
import type { GpuService, GpuView, TransitionKind } from '../daemon/gpu-service';
import { renderExposition } from './exposition';
import { metricFamilies, NO_TRANSITIONS, recordTransition, type GpuState, type TransitionStats } from './gpu-metrics';
import { METRICS_FILE, removeTextfile, replaceTextfile } from './textfile';

export interface MetricsPublisherOptions {
  service: GpuService;
  /** node_exporter's textfile directory. */
  dir: string;
  version: string;
  log: Logger;
  /** The directory is the default one: its absence is no fault of the host's. */
  missingIsNormal?: boolean;
  /** Unix time in seconds; default the clock. */
  now?: () => number;
}

export interface MetricsPublisher {
  readonly file: string;
  /** Stops listening, waits for the write in flight and removes the file (a stopped daemon reports nothing). */
  stop(): Promise<void>;
}

export async function startMetricsPublisher(opts: MetricsPublisherOptions): Promise<MetricsPublisher> {
  const file = path.join(opts.dir, METRICS_FILE);
  const now = opts.now ?? ((): number => Date.now() / 1000);
  let stats: TransitionStats = NO_TRANSITIONS;
  let writing: Promise<void> = Promise.resolve();
  let queued = false;
  let failing = '';

  const write = async (): Promise<void> => {
    queued = false;
    try {
      const gpus = opts.service.list().map((v) => gpuState(v, opts.service.viable(v.address)));
      await replaceTextfile(file, renderExposition(metricFamilies({ version: opts.version, nodeVersion: process.versions.node, gpus, stats })));
      if (failing) opts.log.info({ event: 'metrics', file }, `writing ${file} works again`);
      failing = '';
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      if (reason !== failing) {
        const level = reason === 'ENOENT' && opts.missingIsNormal ? 'info' : 'warn';
        opts.log[level]({ event: 'metrics', file, err: (e as Error).message }, metricsProblem(opts.dir, e as NodeJS.ErrnoException));
      }
      failing = reason;
    }
  };
  const schedule = (): void => {
    if (queued) return;
    queued = true;
    writing = writing.then(write);
  };
  const onFinished = (address: string, kind: TransitionKind, ok: boolean, _error: string, ms: number): void => {
    stats = recordTransition(stats, { gpu: address, operation: kind, ok, seconds: ms / 1000, endedAt: now() });
    schedule();
  };

  opts.service.on('gpu-changed', schedule);
  opts.service.on('gpus-changed', schedule);
  opts.service.on('transition-finished', onFinished);
  schedule();
  await writing;
  return {
    file,
    stop: async () => {
      opts.service.off('gpu-changed', schedule);
      opts.service.off('gpus-changed', schedule);
      opts.service.off('transition-finished', onFinished);
      await writing;
      await removeTextfile(file).catch(() => undefined);
    },
  };
}

function gpuState(v: GpuView, viable: boolean): GpuState {
  return {
    address: v.address,
    name: v.name,
    iommuGroup: v.iommuGroup,
    bootVga: v.bootVga,
    mode: v.mode,
    owner: v.owner,
    viable,
    functions: v.functions.length,
    vfioFunctions: v.functions.filter((f) => v.drivers[f] === VFIO_DRIVER).length,
  };
}

function metricsProblem(dir: string, e: NodeJS.ErrnoException): string {
  if (e.code === 'ENOENT') {
    return `not writing metrics: ${dir} does not exist (install prometheus-node-exporter, or set metrics.textfileDir to its --collector.textfile.directory, or "" for none)`;
  }
  if (e.code === 'EACCES' || e.code === 'EROFS' || e.code === 'EPERM') {
    return `not writing metrics: ${dir} is closed to gpu-hookd (${e.code}); a directory other than the default needs ReadWritePaths=${dir} in a drop-in for gpu-hookd.service`;
  }
  return `not writing metrics to ${dir}: ${e.message}`;
}
