// A simulated host for CPU tests: a scenario (the seed unless told) with a running VM's QEMU among
// its processes and libvirt's pid file for it, a state directory, and a VmCpuManager on both.
// Isolation through systemd is the e2e tier's (a real bus); here `systemd` refuses every call, so a
// test that reaches it by mistake fails loudly.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { simProcessAccess } from '../../../src/sim/open-host';
import { VmCpuManager } from '../../../src/cpu/vm-cpu-manager';
import { NO_CPU_WORK, type CpuSettings } from '../../../src/cpu/vm-cpu-layout';
import type { AllowedCpusAccess } from '../../../src/engine/steps/allowed-cpus';
import type { EngineLog } from '../../../src/engine/step-executor';
import { readDomainRequest, type DomainRequest } from '../../../src/libvirt/domain-request';
import type { ScenarioFile } from '../../../src/sim/scenario';
import { parseScenario } from '../../../src/sim/scenario-parse';
import seed from '../../../src/sim/scenarios/seed';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { buildTestDomainXml, type TestDomainSpec } from '../../support/safe-domain';
import { makeTempRoot } from '../../support/temp-root';

export const QEMU_PID = 4242;
export { NO_CPU_WORK };

/** A QEMU process as libvirt starts it for `vm`: main thread, helpers, one "CPU n/KVM" per vCPU. */
export function qemuProcess(vm: string, vcpus: number, pid = QEMU_PID): NonNullable<ScenarioFile['processes']>[number] {
  const helpers = ['call_rcu', 'IO mon_iothread', 'worker'];
  return {
    pid,
    comm: 'qemu-system-x86',
    cmdline: ['/usr/bin/qemu-system-x86_64', '-name', `guest=${vm},debug-threads=on`, '-S', '-machine', 'pc'],
    threads: [
      ...helpers.map((comm, i) => ({ tid: pid + 1 + i, comm })),
      ...Array.from({ length: vcpus }, (_, n) => ({ tid: pid + 10 + n, comm: `CPU ${n}/KVM` })),
    ],
  };
}

export const unusedSystemd: AllowedCpusAccess = {
  read: () => Promise.reject(new Error('this test has no systemd: isolateCpus belongs to the e2e tier')),
  write: () => Promise.reject(new Error('this test has no systemd: isolateCpus belongs to the e2e tier')),
};

export interface CpuHost {
  host: SimHost;
  stateDir: string;
  /** A manager as the daemon has one; `settings` per VM name (default: nothing). */
  manager(settings: Record<string, CpuSettings>, opts?: { systemd?: AllowedCpusAccess; log?: EngineLog }): VmCpuManager;
  /** Writes libvirt's pid file for a VM, as libvirt does when QEMU starts. */
  markRunning(vm: string, pid?: number): void;
  dispose(): Promise<void>;
}

export async function cpuHost(scenario: Partial<ScenarioFile> = {}): Promise<CpuHost> {
  const temp = makeTempRoot('gpu-hookd-cpu-');
  const host = await createSimHost(parseScenario({ ...seed, ...scenario }, 'cpu-test'), { dir: path.join(temp.root, 'host'), zeroDelays: true });
  const stateDir = path.join(temp.root, 'state');
  fs.mkdirSync(stateDir);
  return {
    host,
    stateDir,
    manager: (settings, opts = {}) =>
      new VmCpuManager({
        io: host.io,
        processes: simProcessAccess(host.io),
        systemd: opts.systemd ?? unusedSystemd,
        stateDir,
        settingsFor: (vm) => settings[vm] ?? NO_CPU_WORK,
        log: opts.log,
        timeouts: { writeMs: 1000 },
      }),
    markRunning: (vm, pid = QEMU_PID) => {
      const dir = path.join(host.root, 'run/libvirt/qemu');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `${vm}.pid`), `${pid}\n`);
    },
    dispose: async () => {
      await host.dispose();
      temp.cleanup();
    },
  };
}

export function domain(spec: Partial<TestDomainSpec> & { name: string }): DomainRequest {
  return readDomainRequest(buildTestDomainXml(spec));
}

/** Every CPU knob the manager may turn, as the host reads now: governors, IRQ affinities, threads' CPUs. */
export function cpuKnobs(host: SimHost): Record<string, string> {
  const knobs: Record<string, string> = {};
  for (const cpu of host.io.list('sys/devices/system/cpu').filter((d) => /^cpu\d+$/.test(d))) {
    knobs[`${cpu}/governor`] = host.io.readText(`sys/devices/system/cpu/${cpu}/cpufreq/scaling_governor`) ?? '';
  }
  for (const irq of host.io.list('proc/irq').filter((d) => /^\d+$/.test(d))) knobs[`irq${irq}`] = host.io.readText(`proc/irq/${irq}/smp_affinity_list`) ?? '';
  for (const pid of host.io.list('proc').filter((d) => /^\d+$/.test(d))) {
    for (const tid of host.io.list(`proc/${pid}/task`)) {
      knobs[`task${tid}`] = /Cpus_allowed_list:\s*(.*)/.exec(host.io.readText(`proc/${pid}/task/${tid}/status`) ?? '')?.[1] ?? '';
    }
  }
  return knobs;
}

/** The files of the manager's state directory (CPU records), for "nothing of ours remains". */
export function cpuRecords(stateDir: string): string[] {
  const dir = path.join(stateDir, 'cpu');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.')) : [];
}
