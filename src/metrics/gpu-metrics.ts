// What gpu-hookd tells Prometheus, as plain data: each GPU's state now, a tally of the transitions
// since the daemon started, and the metric families made from both (docs/metrics.md lists them).
// Counters and histograms exist from the start at zero for every GPU, so rate() and increase()
// see the first transition.

import type { GpuMode } from '../daemon/gpu-service';
import { histogramSamples, type MetricFamily, type Sample } from './exposition';

export type Operation = 'detach' | 'attach';
export const OPERATIONS: readonly Operation[] = ['detach', 'attach'];
export const MODES: readonly GpuMode[] = ['host', 'vfio', 'detaching', 'attaching', 'failed'];

/** Transition durations' bucket bounds in seconds: a simulated host's tens of milliseconds up to a
 *  desktop handover that waits for the display manager and the sessions. */
export const DURATION_BOUNDS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface GpuState {
  address: string;
  name: string;
  iommuGroup: string;
  bootVga: boolean;
  mode: GpuMode;
  /** The VM holding the GPU, "" when none. */
  owner: string;
  /** The group may go to a VM once the GPU's card is on vfio-pci. */
  viable: boolean;
  functions: number;
  vfioFunctions: number;
}

export interface TransitionTally {
  successes: number;
  failures: number;
  /** Per DURATION_BOUNDS bucket (not cumulative), then those above the last. */
  buckets: number[];
  sumSeconds: number;
}

export interface TransitionStats {
  /** GPU address -> operation -> tally. */
  tallies: Readonly<Record<string, Partial<Record<Operation, TransitionTally>>>>;
  /** GPU address -> Unix time in seconds of its last failed transition. */
  lastFailure: Readonly<Record<string, number>>;
}

export interface TransitionRecord {
  gpu: string;
  operation: Operation;
  ok: boolean;
  seconds: number;
  /** Unix time in seconds when it ended. */
  endedAt: number;
}

export interface MetricsInput {
  version: string;
  nodeVersion: string;
  gpus: readonly GpuState[];
  stats: TransitionStats;
}

export const NO_TRANSITIONS: TransitionStats = { tallies: {}, lastFailure: {} };

/** The stats with one more transition (the input is not changed). */
export function recordTransition(stats: TransitionStats, t: TransitionRecord): TransitionStats {
  const before = stats.tallies[t.gpu]?.[t.operation] ?? emptyTally();
  const bucket = DURATION_BOUNDS.findIndex((b) => t.seconds <= b);
  const buckets = [...before.buckets];
  buckets[bucket === -1 ? DURATION_BOUNDS.length : bucket]++;
  const tally: TransitionTally = {
    successes: before.successes + (t.ok ? 1 : 0),
    failures: before.failures + (t.ok ? 0 : 1),
    buckets,
    sumSeconds: before.sumSeconds + t.seconds,
  };
  return {
    tallies: { ...stats.tallies, [t.gpu]: { ...stats.tallies[t.gpu], [t.operation]: tally } },
    lastFailure: t.ok ? stats.lastFailure : { ...stats.lastFailure, [t.gpu]: t.endedAt },
  };
}

function emptyTally(): TransitionTally {
  return { successes: 0, failures: 0, buckets: new Array<number>(DURATION_BOUNDS.length + 1).fill(0), sumSeconds: 0 };
}

/** Every family, in the order docs/metrics.md lists them. */
export function metricFamilies(input: MetricsInput): MetricFamily[] {
  const gpus = [...input.gpus].sort((a, b) => a.address.localeCompare(b.address));
  // A GPU that went away (hot unplug) keeps its counters: they must not go backwards.
  const counted = [...new Set([...gpus.map((g) => g.address), ...Object.keys(input.stats.tallies)])].sort();
  const perGpu = (value: (g: GpuState) => number): Sample[] => gpus.map((g) => ({ labels: { gpu: g.address }, value: value(g) }));
  const tally = (gpu: string, op: Operation): TransitionTally => input.stats.tallies[gpu]?.[op] ?? emptyTally();

  return [
    {
      name: 'gpu_hookd_build_info',
      help: 'The running gpu-hookd: its version and the Node.js it runs on; always 1.',
      type: 'gauge',
      samples: [{ labels: { version: input.version, nodejs_version: input.nodeVersion }, value: 1 }],
    },
    {
      name: 'gpu_hookd_gpu_info',
      help: 'A GPU gpu-hookd manages: its name, IOMMU group and whether the firmware made it the console; always 1.',
      type: 'gauge',
      samples: gpus.map((g) => ({ labels: { gpu: g.address, name: g.name, iommu_group: g.iommuGroup, boot_vga: String(g.bootVga) }, value: 1 })),
    },
    {
      name: 'gpu_hookd_gpu_mode',
      help: 'Where the GPU is: 1 for its current mode (host, vfio, detaching, attaching, failed), 0 for the others.',
      type: 'gauge',
      samples: gpus.flatMap((g) => MODES.map((mode) => ({ labels: { gpu: g.address, mode }, value: g.mode === mode ? 1 : 0 }))),
    },
    {
      name: 'gpu_hookd_gpu_owner_info',
      help: 'The VM holding the GPU (vm="" when none: on host drivers, or detached by hand); always 1.',
      type: 'gauge',
      samples: gpus.map((g) => ({ labels: { gpu: g.address, vm: g.owner }, value: 1 })),
    },
    {
      name: 'gpu_hookd_gpu_iommu_group_viable',
      help: '1 when the GPU\'s IOMMU group may go to a VM once the GPU\'s card is on vfio-pci, 0 when another device in it holds a host driver.',
      type: 'gauge',
      samples: perGpu((g) => (g.viable ? 1 : 0)),
    },
    {
      name: 'gpu_hookd_gpu_functions',
      help: 'The functions of the GPU\'s IOMMU group that move together.',
      type: 'gauge',
      samples: perGpu((g) => g.functions),
    },
    {
      name: 'gpu_hookd_gpu_vfio_functions',
      help: 'The functions of the GPU\'s IOMMU group bound to vfio-pci now.',
      type: 'gauge',
      samples: perGpu((g) => g.vfioFunctions),
    },
    {
      name: 'gpu_hookd_transitions_total',
      help: 'Transitions since gpu-hookd started, by GPU, operation (detach: to vfio-pci, attach: back to the host) and result.',
      type: 'counter',
      samples: counted.flatMap((gpu) =>
        OPERATIONS.flatMap((operation) => [
          { labels: { gpu, operation, result: 'success' }, value: tally(gpu, operation).successes },
          { labels: { gpu, operation, result: 'failure' }, value: tally(gpu, operation).failures },
        ]),
      ),
    },
    {
      name: 'gpu_hookd_transition_duration_seconds',
      help: 'How long transitions took, successful or not, by GPU and operation.',
      type: 'histogram',
      samples: counted.flatMap((gpu) =>
        OPERATIONS.flatMap((operation) => {
          const t = tally(gpu, operation);
          return histogramSamples({ gpu, operation }, { bounds: DURATION_BOUNDS, counts: t.buckets, sum: t.sumSeconds });
        }),
      ),
    },
    {
      name: 'gpu_hookd_last_failure_timestamp_seconds',
      help: 'Unix time of the GPU\'s last failed transition since gpu-hookd started; 0 when none failed.',
      type: 'gauge',
      samples: counted.map((gpu) => ({ labels: { gpu }, value: input.stats.lastFailure[gpu] ?? 0 })),
    },
  ];
}
