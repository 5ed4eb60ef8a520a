// Pinning a running QEMU's threads at `started` on the simulated host (its QEMU is a scenario
// process with "CPU n/KVM" threads; libvirt's pid file points at it), and a daemon killed in the
// middle of a CPU plan.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { CpuError } from '../../../src/cpu/cpu-error';
import { faultCounts, injectFault } from '../../../src/sim/faults';
import { SCHED_SETAFFINITY_PATH } from '../../../src/sim/thread-affinity';
import seed from '../../../src/sim/scenarios/seed';
import { isRunning, spawnTracked, waitFor } from '../../support/processes';
import { cpuHost, cpuKnobs, cpuRecords, domain, NO_CPU_WORK, QEMU_PID, qemuProcess, type CpuHost } from './cpu-host';

const AUTO = { ...NO_CPU_WORK, pin: 'auto' as const };

describe('pinning QEMU\'s threads at started (simulated host)', () => {
  let h: CpuHost;
  let before: Record<string, string>;

  beforeEach(async () => {
    h = await cpuHost({ processes: [...(seed.processes ?? []), qemuProcess('win10', 14)] });
    before = cpuKnobs(h.host);
  });

  afterEach(() => h.dispose());

  it('pins vCPU n to its planned CPU and every other thread to the host\'s CPUs; nothing is left to undo at release', async () => {
    const m = h.manager({ win10: AUTO });
    await m.prepare(domain({ name: 'win10', vcpus: 14 }));
    h.markRunning('win10');
    const report = await m.started('win10');
    assert.equal(report?.steps.length, 18);
    const knobs = cpuKnobs(h.host);
    const planned = [1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15];
    planned.forEach((cpu, n) => assert.equal(knobs[`task${QEMU_PID + 10 + n}`], String(cpu), `CPU ${n}/KVM`));
    for (const tid of [QEMU_PID, QEMU_PID + 1, QEMU_PID + 2, QEMU_PID + 3]) assert.equal(knobs[`task${tid}`], '0,8');
    // The display manager and Xorg are not QEMU's: untouched.
    assert.equal(knobs.task812, '0-15');
    assert.deepEqual(cpuRecords(h.stateDir), ['win10.prepare.json']);

    await m.release('win10');
    assert.deepEqual(cpuRecords(h.stateDir), []);
  });

  it('a thread the kernel refuses to move fails started and puts back the threads already pinned', async () => {
    const m = h.manager({ win10: AUTO });
    await m.prepare(domain({ name: 'win10', vcpus: 14 }));
    h.markRunning('win10');
    const id = injectFault(h.host.root, { path: SCHED_SETAFFINITY_PATH, value: `${QEMU_PID + 15} *`, effect: { kind: 'fail', errno: 'EINVAL' } });
    await assert.rejects(m.started('win10'), (e: unknown) => {
      assert.ok(e instanceof CpuError);
      assert.match(
        e.message,
        /^CPU pinning of VM win10 failed at 'pin thread 4257 \(CPU 5\/KVM\) of QEMU 4242 to CPU 11': setting the CPUs of thread 4257 to CPU 11 failed: EINVAL \(the kernel rejected the value\); every change was undone/,
      );
      return true;
    });
    assert.equal(faultCounts(h.host.root).find((f) => f.id === id)?.fired, 1);
    assert.deepEqual(cpuKnobs(h.host), before);
    assert.deepEqual(cpuRecords(h.stateDir), ['win10.prepare.json']);
  });

  it('says where it looked when the VM\'s QEMU cannot be found, and never pins a process that is not that VM\'s QEMU', async () => {
    const m = h.manager({ win10: AUTO });
    await m.prepare(domain({ name: 'win10', vcpus: 2 }));
    await assert.rejects(m.started('win10'), (e: unknown) =>
      e instanceof CpuError && e.kind === 'NotFound' && /^the QEMU of VM win10 cannot be found: \S+\/run\/libvirt\/qemu\/win10\.pid does not exist \(is the VM running under qemu:\/\/\/system\?\)$/.test(e.message),
    );
    h.markRunning('win10', 845);
    await assert.rejects(m.started('win10'), /names PID 845, which is not that VM's QEMU \(its -name is missing\)/);
    h.markRunning('win10', 999);
    await assert.rejects(m.started('win10'), /names PID 999, which is not running/);
    assert.deepEqual(cpuKnobs(h.host), before);
  });

  it('pins nothing when the domain brings its own <cputune> or asked for no pinning', async () => {
    const m = h.manager({ win10: AUTO, plain: NO_CPU_WORK });
    await m.prepare(domain({ name: 'win10', vcpus: 1, cputune: { vcpupins: [{ vcpu: 0, cpuset: '3' }] } }));
    h.markRunning('win10');
    assert.equal(await m.started('win10'), null);
    assert.equal(await m.started('plain'), null);
    assert.deepEqual(cpuKnobs(h.host), before);
  });

  it('a daemon killed in the middle of a CPU plan leaves a record that the next start undoes', async function () {
    this.timeout(20_000);
    const blocker = injectFault(h.host.root, { path: 'sys/devices/system/cpu/cpu10/cpufreq/scaling_governor', value: 'performance', effect: { kind: 'block' } });
    const dist = path.resolve(__dirname, '../../..');
    const script = `
      const { VmCpuManager } = require(${JSON.stringify(`${dist}/src/cpu/vm-cpu-manager.js`)});
      const { simProcessAccess } = require(${JSON.stringify(`${dist}/src/sim/open-host.js`)});
      const { SimHostIO } = require(${JSON.stringify(`${dist}/src/sim/sim-host-io.js`)});
      const { readDomainRequest } = require(${JSON.stringify(`${dist}/src/libvirt/domain-request.js`)});
      const { buildTestDomainXml } = require(${JSON.stringify(`${dist}/test/support/safe-domain.js`)});
      const io = new SimHostIO(${JSON.stringify(h.host.root)});
      const settings = { isolateCpus: false, pin: 'auto', governor: true, irqAffinity: true, housekeepingCpus: '' };
      const m = new VmCpuManager({ io, processes: simProcessAccess(io), systemd: null, stateDir: ${JSON.stringify(h.stateDir)}, settingsFor: () => settings });
      m.prepare(readDomainRequest(buildTestDomainXml({ name: 'win10', vcpus: 4 }))).then(() => process.exit(3), () => process.exit(4));`;
    const child = spawnTracked(process.execPath, ['-e', script], { stdio: 'inherit' });
    await waitFor('the killed daemon to block on cpu10\'s governor', () => faultCounts(h.host.root).find((f) => f.id === blocker)?.fired === 1, { timeoutMs: 10_000 });
    assert.equal(cpuKnobs(h.host)['cpu1/governor'], 'performance');
    process.kill(child.pid as number, 'SIGKILL');
    await waitFor('the killed daemon to be gone', () => !isRunning(child.pid as number));

    const [recovered] = await h.manager({}).recover(async () => false);
    assert.equal(recovered.outcome, 'restored');
    assert.deepEqual(cpuKnobs(h.host), before);
    assert.deepEqual(cpuRecords(h.stateDir), []);
  });
});
