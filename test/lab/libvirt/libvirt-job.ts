// The libvirt-in-guest target's contract between the host side and the guest agent (see lab-job.ts):
// the job the host writes and what the guest writes back, plain JSON both ways.

import type { Snapshot } from '../lab-job';
import type { WorkloadReport } from '../nested/nested-job';

export interface LibvirtJob {
  kind: 'libvirt';
  /** The display function and the audio function of the GPU-like card, and their host drivers. */
  gpu: string;
  audio: string;
  settle: Record<string, string>;
  /** Mount tag of the 9p share holding the libvirt sysroot (libvirt-sysroot.ts). */
  sysrootTag: string;
  /** Bound of each daemon's start, of each virsh call and of the wait for the workload's result. */
  stepTimeoutMs: number;
}

export interface VirshCall {
  args: string[];
  exitCode: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface LibvirtResult {
  baseline: Snapshot;
  /** From spawning each daemon until it answers (dbus-daemon: its socket; gpu-hookd: its bus name; libvirtd: virsh version). */
  readyMs: Record<'dbusDaemon' | 'gpuHookd' | 'virtlogd' | 'libvirtd', number>;
  define: VirshCall;
  /** `virsh start` before gpu-hookd runs (the hook must refuse), and the host after it. */
  startWithoutDaemon?: VirshCall;
  withoutDaemon?: Snapshot;
  start?: VirshCall;
  /** The host while the VM runs. */
  whileRunning?: Snapshot;
  /** The workload's report, read from the domain's serial log; absent when it printed none in time. */
  workload?: WorkloadReport;
  serial: string;
  /** From the end of virsh start until the workload's result line. */
  workloadMs?: number;
  destroy?: VirshCall;
  afterRelease?: Snapshot;
  /** Tails of the daemons' output and of the domain's QEMU log, for a failure's message. */
  logs: Record<string, string>;
}
