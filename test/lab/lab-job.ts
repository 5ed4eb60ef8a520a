// The contract between the host side of the lab and the guest agent: the job the host writes to
// the output share before boot, and the result the agent writes back. Plain JSON both ways. The
// same job also runs on the simulated host (differential check), giving a result of the same shape.

import type { HandoverSettings } from '../../src/engine/handover-plan';
import type { StepSpec } from '../../src/engine/step-spec';
import type { HostSnapshot } from '../../src/sim/snapshot';
import type { LibvirtJob, LibvirtResult } from './libvirt/libvirt-job';
import type { NestedJob, NestedResult } from './nested/nested-job';

/**
 * One engine call. With failAt, the Nth kernel write of the call is refused (see TappedHostIO).
 * "steps" runs `steps` as one plan (do, verify, rollback), without journal or GPU record: the
 * single-GPU handover's console steps on a real kernel, with no systemd in the guest.
 */
export interface TransitionRun {
  label: string;
  action: 'detach' | 'attach' | 'steps';
  gpu: string;
  steps?: StepSpec[];
  failAt?: number;
  /**
   * Fail each write in turn: the run repeats with failAt = 1, 2, ... until a call succeeds (so
   * every write of the transition has failed once), each outcome recorded as "<label>@<n>".
   */
  sweep?: boolean;
  /** A detach with the single-GPU handover asked for, as a VM's prepare asks for it (the guest has no
   *  system bus: a handover that needs the display manager stopped fails saying so). */
  handover?: HandoverSettings;
  /**
   * Let the functions' steps go side by side, as the engine does by default. Off (the default
   * here), they go one after another, so that the state after each step can be compared with the
   * simulator's; on, the comparison is of the outcome, each function's steps and the end state.
   */
  sideBySide?: boolean;
}

export interface TransitionJob {
  kind: 'transitions';
  /** Driver each function must be bound to (null: unbound) before the first run: probes finish first. */
  settle: Record<string, string | null>;
  /** Run `gpu-hookctl list --json` before the first run. */
  list: boolean;
  runs: TransitionRun[];
}

export interface BenchJob {
  kind: 'bench';
  /** The GPU's functions and their host drivers, in the engine's order: the floor script moves these. */
  settle: Record<string, string>;
  gpu: string;
  rounds: number;
  /** Time every HostIO call, reads too (lab-bench --trace): the timers cost the engine time of their own. */
  traceCalls?: boolean;
}

export type GuestJob = TransitionJob | BenchJob | NestedJob | LibvirtJob;

/** What snapshotHost (src/sim/snapshot.ts) reads through HostIO: plain JSON, compared as a whole. */
export type Snapshot = HostSnapshot;

export interface StepSnapshot {
  /** "do set driver_override of 0000:01:00.0 to vfio-pci", "undo ...", or "start". */
  after: string;
  snapshot: Snapshot;
}

export interface WriteSeen {
  path: string;
  value: string;
  ms: number;
  error?: string;
}

export interface RunOutcome {
  label: string;
  action: TransitionRun['action'];
  gpu: string;
  failAt?: number;
  sideBySide?: boolean;
  ok: boolean;
  /** False when the engine found the GPU already where it was asked to go. */
  changed?: boolean;
  /** The engine's error: its code (NotViable, Failed, ...) and its one sentence. */
  error?: { code: string; message: string };
  steps: { description: string; device?: string; ms: number; note?: string }[];
  /** The engine's notes on a transition that succeeded (a GPU back under other numbers). */
  notes?: string[];
  totalMs?: number;
  writes: WriteSeen[];
  /** The state at the start of the call, then after each step finished (done or undone). */
  snapshots: StepSnapshot[];
  /** The settled state once the call returned. */
  end: Snapshot;
}

export interface CliOutcome {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export interface BenchTimes {
  /** Per round, in ms. */
  engineDetach: number[];
  engineAttach: number[];
  floorDetach: number[];
  floorAttach: number[];
  /** floor.sh's go/done hand-off alone (two pipe wake-ups), included in each floor time. */
  floorHandoff: number[];
  /** Kernel writes of the engine's rounds ("detach: sys/bus/pci/drivers_probe <- 0000:01:00.0"): ms per round. */
  kernelSteps: Record<string, number[]>;
  /** The engine's own steps (write, verify, journal) by description: ms per round. */
  engineSteps: Record<string, number[]>;
  /** Engine time before its first step starts (discovery, plan, record, journal header) and after its
   *  last step ends (journal and record removal), by direction: ms per round. */
  engineBeforeSteps: Record<'detach' | 'attach', number[]>;
  engineAfterSteps: Record<'detach' | 'attach', number[]>;
  /** The engine's HostIO calls other than writes (sysfs and proc reads), by direction: count and ms per round (traceCalls only). */
  engineReads: Record<'detach' | 'attach', { count: number[]; ms: number[] }>;
  /** Every HostIO call of the last round, by direction, `at` from the call's start (lab-bench --trace). */
  lastRoundCalls: Record<'detach' | 'attach', { op: string; path: string; at: number; ms: number }[]>;
}

/** Timings with nothing measured yet: the guest's bench job fills them round by round. */
export function emptyBenchTimes(): BenchTimes {
  return {
    engineDetach: [],
    engineAttach: [],
    floorDetach: [],
    floorAttach: [],
    floorHandoff: [],
    kernelSteps: {},
    engineSteps: {},
    engineBeforeSteps: { detach: [], attach: [] },
    engineAfterSteps: { detach: [], attach: [] },
    engineReads: { detach: { count: [], ms: [] }, attach: { count: [], ms: [] } },
    lastRoundCalls: { detach: [], attach: [] },
  };
}

export interface GuestResult {
  job: GuestJob;
  /** uname -r of the kernel that ran the job ("sim" on the simulated host). */
  kernel: string;
  /** Set when the agent itself failed: the stack, for the test's failure message. */
  error?: string;
  list?: CliOutcome;
  /** The settled state before the first run. */
  baseline?: Snapshot;
  runs?: RunOutcome[];
  bench?: BenchTimes;
  nested?: NestedResult;
  libvirt?: LibvirtResult;
}
