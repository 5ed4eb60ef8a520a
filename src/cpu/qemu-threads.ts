// A running VM's QEMU as procfs shows it: its PID (libvirt's pid file, checked against the process's
// own command line so a stale file never points us at another process), its threads with their
// names and allowed CPUs. libvirt starts QEMU with "-name guest=<vm>,debug-threads=on", which names
// each vCPU thread "CPU <n>/KVM" (or "CPU <n>/TCG" without KVM; "ALL CPUs/TCG" when one thread runs
// every vCPU).

import type { HostIO } from '../host/host-io';
import { CpuError } from './cpu-error';
import { parseCpuList } from './cpu-list';

/** Where libvirt's QEMU driver keeps a running domain's pid file (root-relative). */
export const LIBVIRT_QEMU_RUN_DIR = 'run/libvirt/qemu';

export interface QemuThread {
  tid: number;
  comm: string;
  /** Cpus_allowed_list of the thread now. */
  cpus: number[];
  /** The vCPU this thread runs, "all" for a thread running every vCPU, null for QEMU's other threads. */
  vcpu: number | 'all' | null;
}

/** The vCPU a thread name stands for. */
export function vcpuOfThread(comm: string): number | 'all' | null {
  const m = /^CPU (\d+)\/(KVM|TCG|HVF|WHPX|NVMM)$/.exec(comm);
  if (m) return Number(m[1]);
  return /^ALL CPUs\/TCG$/.test(comm) ? 'all' : null;
}

/** The value of guest= in QEMU's "-name" argument (",," is an escaped comma), or undefined. */
export function guestNameOf(cmdline: readonly string[]): string | undefined {
  const i = cmdline.indexOf('-name');
  if (i < 0 || i + 1 >= cmdline.length) return undefined;
  const options = cmdline[i + 1].split(/(?<!,),(?!,)/).map((o) => o.replace(/,,/g, ','));
  const guest = options.find((o) => o.startsWith('guest='));
  if (guest) return guest.slice('guest='.length);
  // "-name NAME" without keys is the guest name itself.
  return options[0].includes('=') ? undefined : options[0];
}

/** The PID of the QEMU running `vm`, from libvirt's pid file, checked against the process's -name. */
export function findQemuPid(io: HostIO, vm: string): number {
  const pidFile = `${LIBVIRT_QEMU_RUN_DIR}/${vm}.pid`;
  const text = io.readText(pidFile);
  if (text === undefined) {
    throw new CpuError('NotFound', `the QEMU of VM ${vm} cannot be found: ${io.abs(pidFile)} does not exist (is the VM running under qemu:///system?)`);
  }
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) throw new CpuError('NotFound', `the QEMU of VM ${vm} cannot be found: ${io.abs(pidFile)} holds ${JSON.stringify(text)}, not a PID`);
  const cmdline = (io.readText(`proc/${pid}/cmdline`) ?? '').split('\0').filter((a) => a !== '');
  const guest = guestNameOf(cmdline);
  if (guest !== vm) {
    throw new CpuError('NotFound', 
      `the QEMU of VM ${vm} cannot be found: ${io.abs(pidFile)} names PID ${pid}, which ` +
        (cmdline.length === 0 ? 'is not running' : `is not that VM's QEMU (its -name is ${guest === undefined ? 'missing' : JSON.stringify(guest)})`),
    );
  }
  return pid;
}

/** Cpus_allowed_list of a thread, or undefined when the thread is gone. */
export function threadCpus(io: HostIO, pid: number, tid: number): number[] | undefined {
  const status = io.readText(`proc/${pid}/task/${tid}/status`);
  const line = status?.split('\n').find((l) => l.startsWith('Cpus_allowed_list:'));
  return line === undefined ? undefined : parseCpuList(line.slice('Cpus_allowed_list:'.length));
}

export function threadComm(io: HostIO, pid: number, tid: number): string | undefined {
  return io.readText(`proc/${pid}/task/${tid}/comm`);
}

/** Every thread of the process now, by TID. */
export function readQemuThreads(io: HostIO, pid: number): QemuThread[] {
  const threads: QemuThread[] = [];
  for (const entry of io.list(`proc/${pid}/task`)) {
    const tid = Number(entry);
    if (!Number.isInteger(tid)) continue;
    const comm = threadComm(io, pid, tid);
    const cpus = threadCpus(io, pid, tid);
    // A thread that ended between the listing and the read is simply not there any more.
    if (comm === undefined || cpus === undefined) continue;
    threads.push({ tid, comm, cpus, vcpu: vcpuOfThread(comm) });
  }
  return threads.sort((a, b) => a.tid - b.tid);
}
