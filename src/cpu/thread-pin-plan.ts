// The steps that pin a running QEMU's threads by an automatic plan: each "CPU n/..." thread to vCPU
// n's host CPU, a thread running every vCPU ("ALL CPUs/TCG") to all of them, and every other thread
// (the main loop, I/O, RCU, workers) to the emulator CPUs. Threads QEMU creates later inherit the
// CPUs of the thread that creates them: the main loop's, i.e. the emulator CPUs.

import type { StepSpec } from '../engine/step-spec';
import { CpuError } from './cpu-error';
import { sameCpus } from './cpu-list';
import type { QemuThread } from './qemu-threads';

export interface ThreadPins {
  /** Host CPU of each vCPU, by index. */
  vcpus: number[];
  emulator: number[];
}

export function planThreadPins(vm: string, pid: number, threads: readonly QemuThread[], pins: ThreadPins): StepSpec[] {
  const runsAll = threads.some((t) => t.vcpu === 'all');
  const seen = new Set(threads.map((t) => t.vcpu).filter((v): v is number => typeof v === 'number'));
  const missing = pins.vcpus.findIndex((_, i) => !seen.has(i));
  if (!runsAll && missing >= 0) {
    throw new CpuError(
      'Failed',
      `QEMU ${pid} of VM ${vm} has no thread named "CPU ${missing}/KVM" or "CPU ${missing}/TCG", so its vCPUs cannot be pinned; ` +
        `libvirt names them when it starts QEMU with -name ...,debug-threads=on (libvirt 1.2.6 and later)`,
    );
  }
  const steps: StepSpec[] = [];
  for (const t of threads) {
    let cpus: number[];
    if (t.vcpu === 'all') cpus = [...new Set(pins.vcpus)].sort((a, b) => a - b);
    else if (t.vcpu === null) cpus = pins.emulator;
    else if (t.vcpu < pins.vcpus.length) cpus = [pins.vcpus[t.vcpu]];
    else {
      throw new CpuError('Failed', `QEMU ${pid} of VM ${vm} runs vCPU ${t.vcpu}, but the plan made at prepare has ${pins.vcpus.length} vCPUs; restart the VM`);
    }
    if (!sameCpus(t.cpus, cpus)) steps.push({ kind: 'pin-thread', pid, tid: t.tid, comm: t.comm, cpus, previous: t.cpus });
  }
  return steps;
}
