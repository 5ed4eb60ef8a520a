// Governors and interrupt affinity on the simulated host's sysfs and procfs, through the manager as
// the daemon drives it: prepare changes them, release gives back exactly what was there, and every
// kernel refusal (injected) rolls back or is recorded for recovery.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { CpuError } from '../../../src/cpu/cpu-error';
import { clearFaults, faultCounts, injectFault } from '../../../src/sim/faults';
import { cpuHost, cpuKnobs, cpuRecords, domain, NO_CPU_WORK, type CpuHost } from './cpu-host';

const GOVERNOR_IRQ = { ...NO_CPU_WORK, pin: 'auto' as const, governor: true, irqAffinity: true };
// The seed with a 4-vCPU guest: VM on CPUs 1-2,9-10, host keeps 0,3-8,11-15.
const win10 = domain({ name: 'win10', vcpus: 4 });

describe('CPU governors and IRQ affinity on the simulated host', () => {
  let h: CpuHost;
  let before: Record<string, string>;

  beforeEach(async () => {
    h = await cpuHost();
    before = cpuKnobs(h.host);
  });

  afterEach(() => h.dispose());

  it('prepare sets the VM\'s CPUs to "performance" and steers every interrupt off them; release gives back exactly what was there', async () => {
    const m = h.manager({ win10: GOVERNOR_IRQ });
    const report = await m.prepare(win10);
    assert.ok(report);
    const now = cpuKnobs(h.host);
    for (const cpu of [1, 2, 9, 10]) assert.equal(now[`cpu${cpu}/governor`], 'performance');
    for (const cpu of [0, 3, 8, 15]) assert.equal(now[`cpu${cpu}/governor`], 'powersave');
    for (const irq of [0, 9, 17, 142]) assert.equal(now[`irq${irq}`], '0,3-8,11-15');
    assert.deepEqual(cpuRecords(h.stateDir), ['win10.prepare.json']);

    await m.release('win10');
    assert.deepEqual(cpuKnobs(h.host), before);
    assert.deepEqual(cpuRecords(h.stateDir), []);
  });

  it('a CPU record that cannot be written stops prepare before any change', async () => {
    fs.writeFileSync(`${h.stateDir}/cpu`, 'not a directory');
    await assert.rejects(h.manager({ win10: GOVERNOR_IRQ }).prepare(win10), (e: unknown) =>
      e instanceof CpuError && /^CPU isolation of VM win10 changed nothing: the CPU record \S+ could not be written \(.*\); make the state directory writable$/.test(e.message),
    );
    assert.deepEqual(cpuKnobs(h.host), before);
  });

  it('a VM that asks for nothing costs nothing: no read, no record', async () => {
    fs.rmSync(`${h.host.root}/sys/devices/system/cpu/online`);
    assert.equal(await h.manager({}).prepare(win10), null);
    assert.deepEqual(cpuRecords(h.stateDir), []);
  });

  it('a refused governor write midway undoes the governors already set, leaves no record and says so in one sentence', async () => {
    const id = injectFault(h.host.root, { path: 'sys/devices/system/cpu/cpu9/cpufreq/scaling_governor', value: 'performance', effect: { kind: 'fail', errno: 'EINVAL' } });
    await assert.rejects(h.manager({ win10: GOVERNOR_IRQ }).prepare(win10), (e: unknown) => {
      assert.ok(e instanceof CpuError);
      assert.equal(e.kind, 'Failed');
      assert.match(
        e.message,
        /^CPU isolation of VM win10 failed at 'set the cpufreq governor of cpu9 to performance': writing "performance" to \S+\/cpu9\/cpufreq\/scaling_governor failed: EINVAL \(the kernel rejected the value\); every change was undone, so the host is as before: fix the cause and start the VM again$/,
      );
      return true;
    });
    assert.equal(faultCounts(h.host.root).find((f) => f.id === id)?.fired, 1);
    assert.deepEqual(cpuKnobs(h.host), before);
    assert.deepEqual(cpuRecords(h.stateDir), []);
  });

  it('an interrupt the kernel will not move (EIO) stays put; the others move and come back', async () => {
    injectFault(h.host.root, { path: 'proc/irq/9/smp_affinity_list', effect: { kind: 'fail', errno: 'EIO' } });
    const m = h.manager({ win10: GOVERNOR_IRQ });
    await m.prepare(win10);
    const now = cpuKnobs(h.host);
    assert.equal(now.irq9, '0-15');
    assert.equal(now.irq8, '0,3-8,11-15');
    await m.release('win10');
    assert.deepEqual(cpuKnobs(h.host), before);
  });

  it('any other refusal of an interrupt (EBUSY) fails the prepare and undoes governors and interrupts already moved', async () => {
    injectFault(h.host.root, { path: 'proc/irq/142/smp_affinity_list', effect: { kind: 'fail', errno: 'EBUSY' } });
    await assert.rejects(h.manager({ win10: GOVERNOR_IRQ }).prepare(win10), /failed at 'steer irq 142 to CPUs 0,3-8,11-15': .*EBUSY.*every change was undone/);
    assert.deepEqual(cpuKnobs(h.host), before);
  });

  it('when undoing fails too, the record stays and the next start of the daemon finishes the job', async () => {
    injectFault(h.host.root, { path: 'proc/irq/12/smp_affinity_list', effect: { kind: 'fail', errno: 'EBUSY' } });
    injectFault(h.host.root, { path: 'sys/devices/system/cpu/cpu1/cpufreq/scaling_governor', value: 'powersave', effect: { kind: 'fail', errno: 'EIO' }, times: 1 });
    await assert.rejects(h.manager({ win10: GOVERNOR_IRQ }).prepare(win10), (e: unknown) =>
      /^CPU isolation of VM win10 failed at 'steer irq 12 .*; undoing then failed too at 'set the cpufreq governor of cpu1 to performance': .*EIO.*so the host is half-way: the record \S+win10\.prepare\.json is kept and gpu-hookd undoes it when it next starts/.test(
        (e as Error).message,
      ),
    );
    assert.equal(cpuKnobs(h.host)['cpu1/governor'], 'performance');
    assert.deepEqual(cpuRecords(h.stateDir), ['win10.prepare.json']);

    clearFaults(h.host.root);
    const recovered = await h.manager({}).recover(async () => false);
    assert.deepEqual(recovered.map((r) => [r.vm, r.outcome]), [['win10', 'restored']]);
    assert.deepEqual(cpuKnobs(h.host), before);
    assert.deepEqual(cpuRecords(h.stateDir), []);
  });

  it('at start, keeps the changes of a VM that still runs and gives back those of a VM that is gone', async () => {
    await h.manager({ win10: GOVERNOR_IRQ }).prepare(win10);
    const changed = cpuKnobs(h.host);
    assert.deepEqual((await h.manager({}).recover(async () => true)).map((r) => r.outcome), ['held']);
    assert.deepEqual((await h.manager({}).recover(async () => undefined)).map((r) => r.outcome), ['held']);
    assert.deepEqual(cpuKnobs(h.host), changed);
    assert.deepEqual((await h.manager({}).recover(async (vm) => vm !== 'win10')).map((r) => r.outcome), ['restored']);
    assert.deepEqual(cpuKnobs(h.host), before);
  });

  it('a record from before the last reboot is dropped without touching the host', async () => {
    fs.mkdirSync(`${h.host.root}/proc/sys/kernel/random`, { recursive: true });
    fs.writeFileSync(`${h.host.root}/proc/sys/kernel/random/boot_id`, 'this-boot\n');
    await h.manager({ win10: GOVERNOR_IRQ }).prepare(win10);
    const changed = cpuKnobs(h.host);
    fs.writeFileSync(`${h.host.root}/proc/sys/kernel/random/boot_id`, 'another-boot\n');
    assert.deepEqual((await h.manager({}).recover(async () => false)).map((r) => r.outcome), ['stale']);
    assert.deepEqual(cpuKnobs(h.host), changed);
    assert.deepEqual(cpuRecords(h.stateDir), []);
  });

  it('an unreadable record is reported with what to check, and left in place', async () => {
    fs.mkdirSync(`${h.stateDir}/cpu`);
    fs.writeFileSync(`${h.stateDir}/cpu/win10.prepare.json`, 'garbage\n');
    const [r] = await h.manager({}).recover(async () => false);
    assert.equal(r.outcome, 'unreadable');
    assert.match(r.error ?? '', /^the CPU record \S+win10\.prepare\.json cannot be read \(it is not a gpu-hookd CPU record of this version\), so what it changed was not given back; check "systemctl show -p AllowedCPUs/);
    assert.deepEqual(cpuRecords(h.stateDir), ['win10.prepare.json']);
    await assert.rejects(h.manager({ win10: GOVERNOR_IRQ }).prepare(win10), /the CPU record \S+ cannot be read/);
  });

  it('host-wide changes are held by one VM at a time; a second VM may still be pinned, on other cores', async () => {
    const m = h.manager({ win10: GOVERNOR_IRQ, other: { ...NO_CPU_WORK, governor: true }, pinned: { ...NO_CPU_WORK, pin: 'auto' } });
    await m.prepare(win10);
    await assert.rejects(m.prepare(domain({ name: 'other', vcpus: 2, vcpuCpuset: '5-6' })), (e: unknown) =>
      e instanceof CpuError && e.kind === 'Busy' && /^VM other asks gpu-hookd to keep host work off its CPUs, but VM win10 holds the host's CPU isolation/.test(e.message),
    );
    const pinned = await m.prepare(domain({ name: 'pinned', vcpus: 2 }));
    assert.deepEqual(pinned?.layout.threadPins?.vcpus, [3, 11]);
    await m.release('win10');
    await m.release('pinned');
    assert.deepEqual(cpuKnobs(h.host), before);
  });

  it('a domain whose CPUs this host cannot honour is refused before anything changes', async () => {
    await assert.rejects(
      h.manager({ win10: GOVERNOR_IRQ }).prepare(domain({ name: 'win10', vcpus: 2, cputune: { vcpupins: [{ vcpu: 0, cpuset: '16' }] } })),
      (e: unknown) => e instanceof CpuError && e.kind === 'InvalidArgument' && /CPU 16, which this host does not have/.test(e.message),
    );
    assert.deepEqual(cpuKnobs(h.host), before);
    assert.deepEqual(cpuRecords(h.stateDir), []);
  });

  it('a second prepare of the same VM first gives back what the first left (its release never came)', async () => {
    const m = h.manager({ win10: GOVERNOR_IRQ });
    await m.prepare(win10);
    const again = h.manager({ win10: { ...NO_CPU_WORK, governor: true, housekeepingCpus: '0-3,8-11' } });
    await again.prepare(domain({ name: 'win10', vcpus: 4 }));
    const now = cpuKnobs(h.host);
    assert.equal(now.irq9, '0-15');
    assert.equal(now['cpu1/governor'], 'powersave');
    assert.equal(now['cpu4/governor'], 'performance');
    await again.release('win10');
    assert.deepEqual(cpuKnobs(h.host), before);
  });
});
