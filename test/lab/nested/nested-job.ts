// The nested scenario's contract between the host side of the lab and the guest agent: the job the
// host writes and the result the guest writes back, plain JSON both ways (see lab-job.ts).

import type { FileHolder } from '../../../src/host/file-holders';
import type { GroupReadiness } from '../../../src/host/kernel-viability';
import type { Viability } from '../../../src/host/pci-device';
import type { VfioGroupStatus } from '../../../src/host/vfio-group-status';
import type { CliOutcome, Snapshot } from '../lab-job';

export interface NestedJob {
  kind: 'nested';
  /** The display function and the audio function of the GPU-like card, and their host drivers. */
  gpu: string;
  audio: string;
  settle: Record<string, string>;
  /** Mount tag of the 9p share holding the nested QEMU's sysroot (nested-sysroot.ts). */
  sysrootTag: string;
  /** Bound of each nested QEMU run. */
  nestedTimeoutMs: number;
  /** Write timeout of the engine and of the deliberately blocked unbind. */
  writeTimeoutMs: number;
}

/** One binding of the group, as the kernel and the sysfs rule each judge it. */
export interface ViabilityCheck {
  state: string;
  drivers: Record<string, string | null>;
  kernel: VfioGroupStatus;
  sysfs: Viability;
  /** What gpu-hookctl and the engine use: the kernel's answer where it can be had. */
  readiness: GroupReadiness;
}

export interface NestedQemuRun {
  args: string[];
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stderr: string;
  serial: string;
  /** The workload's JSON line, parsed; absent when it printed none. */
  workload?: WorkloadReport;
  /** From spawning QEMU until it held /dev/vfio/<group> (first device realized), and both device fds. */
  groupOpenedMs?: number;
  devicesOpenedMs?: number;
  /** From spawning QEMU to the workload's first line on the serial port: QEMU's start, firmware, boot. */
  startMs?: number;
  totalMs: number;
}

/** What workload.c prints (hex values as strings, as it prints them). */
export interface WorkloadReport {
  devices: { slot: string; id: string; class: string }[];
  vga: { found: boolean; vbeId: string; framebufferReadback: string; ok: boolean };
  hda: { found: boolean; gcap: string; codecs: string; codecVendor: string; codecRevision: string; codecNodes: string; dma: boolean; ok: boolean };
  ok: boolean;
}

export interface EngineCall {
  ok: boolean;
  ms: number;
  changed?: boolean;
  error?: { code: string; message: string };
  /** Kernel writes the call made (through the write tap). */
  writes: number;
}

export interface ReleaseOrdering {
  holder: { pid: number | undefined; heldAfterMs: number; holders: FileHolder[] };
  /** The kernel's answer while the holder has the group open. */
  kernelWhileHeld: VfioGroupStatus;
  /** Engine attach while held: refused before any change. */
  attachWhileHeld: EngineCall;
  whileHeld: Snapshot;
  /** The unbind the engine refused to issue, issued by hand through HostIO with a bounded write. */
  blockedUnbind: {
    device: string;
    error?: { name: string; message: string };
    ms: number;
    /** Timer ticks during the wait: the event loop ran while the kernel blocked. */
    loopTicks: number;
    /** The device's driver link right after the write gave up. */
    driverLinkDuring: string | null;
    /** What the engine's error path finds then. */
    holders: FileHolder[];
  };
  holderExit: { exitCode: number | null; signal: string | null; stderr: string; ms: number };
  /** From the holder's exit until the device's attributes answer again (the kernel finished the unbind). */
  unbindFinishedMs: number;
  afterHolderExit: Snapshot;
  retry: EngineCall;
}

export interface NestedResult {
  baseline: Snapshot;
  viability: ViabilityCheck[];
  /** gpu-hookctl list --json while the display function is on vfio-pci and the audio on its host driver. */
  listWhileShared: CliOutcome;
  /** The host after the viability probes put it back, before the engine's detach. */
  afterProbes: Snapshot;
  detach: EngineCall;
  afterDetach: Snapshot;
  workload: NestedQemuRun;
  release: ReleaseOrdering;
  afterAttach: Snapshot;
}
