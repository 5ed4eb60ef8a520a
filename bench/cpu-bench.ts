// Benchmark of CPU isolation and pinning (issue 8) on the simulated seed host (8 cores / 16 threads,
// 16 interrupts) with a 14-vCPU VM on pin "auto", isolateCpus, governor and irqAffinity: the
// systemd stand-in answers AllowedCPUs on a private bus (real D-Bus round trips), the simulated
// QEMU has 18 threads. Each figure against a baseline in the same run, rounds alternating so that
// machine load hits both alike:
//  1. prepare (read the units, governors and IRQs, plan, journal, set, verify) against the bare
//     calls: 3 SetUnitProperties, 14 governor writes, 16 IRQ writes, nothing read, nothing checked;
//     ours twice: with the state directory on disk (as /var/lib/gpu-hookd is) and in memory
//     (/dev/shm), which shows how much of it is the CPU record's disk flushes;
//  2. started (find QEMU, read its threads, plan, journal, pin, verify) against 18 bare affinity calls;
//  3. release (undo all of prepare, read back first) against the bare restoring calls;
//  4. what one thread's pin costs on a real kernel: `taskset -p -c` on a thread of a child process of
//     this benchmark (its own, harmless), the way started pins a real QEMU.
// Usage: node dist/bench/cpu-bench.js [--runs N]     (root: it starts a private dbus-daemon)

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allowedCpusMask } from '../src/cpu/allowed-cpus-mask';
import { formatCpuList } from '../src/cpu/cpu-list';
import { tasksetAffinity } from '../src/cpu/process-access';
import { simProcessAccess } from '../src/sim/open-host';
import { systemdAllowedCpus } from '../src/cpu/systemd-allowed-cpus';
import { VmCpuManager } from '../src/cpu/vm-cpu-manager';
import { governorPath } from '../src/engine/steps/governor';
import { irqAffinityPath } from '../src/engine/steps/irq-affinity';
import { SystemdManager } from '../src/host/systemd-manager';
import { readDomainRequest } from '../src/libvirt/domain-request';
import { parseScenario } from '../src/sim/scenario-parse';
import seed from '../src/sim/scenarios/seed';
import { createSimHost } from '../src/sim/sim-host';
import { setSimThreadAffinity } from '../src/sim/thread-affinity';
import { startPrivateSystemBus } from '../test/support/private-bus';
import { spawnTracked, signalPid } from '../test/support/processes';
import { buildTestDomainXml } from '../test/support/safe-domain';
import { startSystemdStandin } from '../src/sim/desktop/systemd-standin';
import { qemuProcess, QEMU_PID } from '../test/integration/cpu/cpu-host';
import { median } from './bench-stats';

const VM = 'win10';
const VCPUS = 14;
const UNITS = ['system.slice', 'user.slice', 'init.scope'];
const SETTINGS = { isolateCpus: true, pin: 'auto' as const, governor: true, irqAffinity: true, housekeepingCpus: '' };

function runsFrom(argv: string[]): number {
  const i = argv.indexOf('--runs');
  const n = i >= 0 ? Number(argv[i + 1]) : 50;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--runs wants a positive whole number, got ${argv[i + 1]}`);
  return n;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

function line(what: string, ours: number[], bare: number[]): string {
  const a = median(ours);
  const b = median(bare);
  return `${what.padEnd(10)} ${a.toFixed(2).padStart(7)} ms   bare ${b.toFixed(2).padStart(6)} ms   ratio ${(a / b).toFixed(1)}x`;
}

async function main(): Promise<void> {
  const runs = runsFrom(process.argv.slice(2));
  const shm = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const work = fs.mkdtempSync(path.join(shm, 'gpu-hookd-cpu-bench-'));
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-cpu-bench-state-'));
  const memoryStateDir = fs.mkdtempSync(path.join(shm, 'gpu-hookd-cpu-bench-state-'));
  const scenario = parseScenario({ ...seed, processes: [...(seed.processes ?? []), qemuProcess(VM, VCPUS)] }, 'seed-with-vm');
  const host = await createSimHost(scenario, { dir: path.join(work, 'host'), zeroDelays: true });
  const bus = await startPrivateSystemBus();
  const standin = await startSystemdStandin(bus);
  const client = bus.connect();
  const systemd = new SystemdManager(client);
  const child = spawnTracked('sleep', ['600'], { stdio: 'ignore' });
  try {
    const io = host.io;
    fs.mkdirSync(path.join(host.root, 'run/libvirt/qemu'), { recursive: true });
    fs.writeFileSync(path.join(host.root, `run/libvirt/qemu/${VM}.pid`), `${QEMU_PID}\n`);
    const managerIn = (dir: string): VmCpuManager =>
      new VmCpuManager({ io, processes: simProcessAccess(io), systemd: systemdAllowedCpus(systemd), stateDir: dir, settingsFor: () => SETTINGS });
    const manager = managerIn(stateDir);
    const inMemory = managerIn(memoryStateDir);
    const request = readDomainRequest(buildTestDomainXml({ name: VM, vcpus: VCPUS }));
    const all = Array.from({ length: 16 }, (_, cpu) => cpu);
    const irqs = io.list('proc/irq').filter((d) => /^\d+$/.test(d)).map(Number);
    const tids = io.list(`proc/${QEMU_PID}/task`).map(Number);

    // What a prepare decides on this host (checked below): the bare baseline does the same writes.
    const layout = (await manager.prepare(request))?.layout;
    await manager.release(VM);
    if (!layout?.threadPins) throw new Error('the benchmark expected an automatic plan');
    const { housekeeping, vmCpus, threadPins } = layout;
    const bareSet = async (): Promise<void> => {
      for (const unit of UNITS) await systemd.setAllowedCpus(unit, allowedCpusMask(housekeeping), true);
      for (const cpu of vmCpus) await io.write(governorPath(cpu), 'performance');
      for (const irq of irqs) await io.write(irqAffinityPath(irq), formatCpuList(housekeeping));
    };
    const bareRestore = async (): Promise<void> => {
      for (const irq of [...irqs].reverse()) await io.write(irqAffinityPath(irq), formatCpuList(all));
      for (const cpu of [...vmCpus].reverse()) await io.write(governorPath(cpu), 'powersave');
      for (const unit of [...UNITS].reverse()) await systemd.setAllowedCpus(unit, [], true);
    };
    const vcpuOf = (tid: number): number | null => {
      const m = /^CPU (\d+)\//.exec(io.readText(`proc/${QEMU_PID}/task/${tid}/comm`) ?? '');
      return m ? Number(m[1]) : null;
    };
    const barePin = async (): Promise<void> => {
      for (const tid of tids) {
        const vcpu = vcpuOf(tid);
        setSimThreadAffinity(host.root, QEMU_PID, tid, vcpu === null ? threadPins.emulator : [threadPins.vcpus[vcpu]]);
      }
    };
    const unpin = (): void => {
      for (const tid of tids) setSimThreadAffinity(host.root, QEMU_PID, tid, all);
    };

    const t = {
      prepare: [] as number[], started: [] as number[], release: [] as number[],
      memPrepare: [] as number[], memStarted: [] as number[], memRelease: [] as number[],
      barePrepare: [] as number[], bareStarted: [] as number[], bareRelease: [] as number[], taskset: [] as number[],
    };
    for (let i = 0; i < runs; i++) {
      t.prepare.push(await timed(() => manager.prepare(request)));
      t.started.push(await timed(() => manager.started(VM)));
      t.release.push(await timed(() => manager.release(VM)));
      unpin();
      t.memPrepare.push(await timed(() => inMemory.prepare(request)));
      t.memStarted.push(await timed(() => inMemory.started(VM)));
      t.memRelease.push(await timed(() => inMemory.release(VM)));
      unpin();
      t.barePrepare.push(await timed(bareSet));
      t.bareStarted.push(await timed(barePin));
      t.bareRelease.push(await timed(bareRestore));
      unpin();
      t.taskset.push(await timed(() => tasksetAffinity('/', child.pid as number, [i % 2], 5000)));
    }
    const units = await Promise.all(UNITS.map(async (u) => (await standin.unit(u)).allowedCpus));
    if (units.some((u) => u.length > 0)) throw new Error('the units were not given back: the benchmark measured a broken run');

    console.log(`CPU isolation and pinning, seed host (8c/16t, ${irqs.length} IRQs), ${VCPUS}-vCPU VM, ${runs} runs, medians:`);
    console.log(`  steps: prepare ${UNITS.length} units + ${vmCpus.length} governors + ${irqs.length} IRQs; started ${tids.length} threads`);
    console.log('  state directory on disk:');
    console.log(`    ${line('prepare', t.prepare, t.barePrepare)}`);
    console.log(`    ${line('started', t.started, t.bareStarted)}`);
    console.log(`    ${line('release', t.release, t.bareRelease)}`);
    console.log('  state directory in memory:');
    console.log(`    ${line('prepare', t.memPrepare, t.barePrepare)}`);
    console.log(`    ${line('started', t.memStarted, t.bareStarted)}`);
    console.log(`    ${line('release', t.memRelease, t.bareRelease)}`);
    console.log(`  taskset -p -c on a real thread: ${median(t.taskset).toFixed(2)} ms (x ${tids.length} threads = ${(median(t.taskset) * tids.length).toFixed(0)} ms for this VM's QEMU on a real host)`);
  } finally {
    signalPid(child.pid as number, 'SIGKILL');
    await systemd.close();
    client.disconnect();
    await standin.stop();
    await bus.stop();
    await host.dispose();
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(memoryStateDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`cpu-bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
