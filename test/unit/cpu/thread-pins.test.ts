import assert from 'node:assert/strict';
import { CpuError } from '../../../src/cpu/cpu-error';
import { guestNameOf, vcpuOfThread, type QemuThread } from '../../../src/cpu/qemu-threads';
import { planThreadPins } from '../../../src/cpu/thread-pin-plan';

function thread(tid: number, comm: string, cpus = [0, 1, 2, 3]): QemuThread {
  return { tid, comm, cpus, vcpu: vcpuOfThread(comm) };
}

describe('QEMU\'s threads', () => {
  it('names the vCPU a thread runs, for KVM and TCG', () => {
    assert.equal(vcpuOfThread('CPU 0/KVM'), 0);
    assert.equal(vcpuOfThread('CPU 13/TCG'), 13);
    assert.equal(vcpuOfThread('ALL CPUs/TCG'), 'all');
    for (const other of ['qemu-system-x86', 'IO mon_iothread', 'worker', 'CPU x/KVM', 'call_rcu']) assert.equal(vcpuOfThread(other), null);
  });

  it('finds the guest name in QEMU\'s -name argument, commas escaped as libvirt writes them', () => {
    assert.equal(guestNameOf(['/usr/bin/qemu-system-x86_64', '-name', 'guest=win10,debug-threads=on', '-S']), 'win10');
    assert.equal(guestNameOf(['qemu', '-name', 'guest=a,,b,debug-threads=on']), 'a,b');
    assert.equal(guestNameOf(['qemu', '-name', 'plain']), 'plain');
    assert.equal(guestNameOf(['qemu', '-machine', 'pc']), undefined);
  });

  describe('the pin plan at started', () => {
    const pins = { vcpus: [1, 9], emulator: [0, 8] };

    it('pins each vCPU thread to its CPU and every other thread to the emulator CPUs, remembering what each had', () => {
      const threads = [thread(100, 'qemu-system-x86'), thread(101, 'call_rcu'), thread(103, 'CPU 0/KVM'), thread(104, 'CPU 1/KVM')];
      assert.deepEqual(planThreadPins('win10', 100, threads, pins), [
        { kind: 'pin-thread', pid: 100, tid: 100, comm: 'qemu-system-x86', cpus: [0, 8], previous: [0, 1, 2, 3] },
        { kind: 'pin-thread', pid: 100, tid: 101, comm: 'call_rcu', cpus: [0, 8], previous: [0, 1, 2, 3] },
        { kind: 'pin-thread', pid: 100, tid: 103, comm: 'CPU 0/KVM', cpus: [1], previous: [0, 1, 2, 3] },
        { kind: 'pin-thread', pid: 100, tid: 104, comm: 'CPU 1/KVM', cpus: [9], previous: [0, 1, 2, 3] },
      ]);
    });

    it('leaves threads already where the plan wants them', () => {
      const threads = [thread(100, 'qemu-system-x86', [0, 8]), thread(103, 'CPU 0/TCG', [1]), thread(104, 'CPU 1/TCG')];
      assert.deepEqual(planThreadPins('win10', 100, threads, pins).map((s) => s.kind === 'pin-thread' && s.tid), [104]);
    });

    it('pins a thread running every vCPU (single-threaded TCG) to all the vCPUs\' CPUs', () => {
      const steps = planThreadPins('win10', 100, [thread(100, 'qemu-system-x86'), thread(102, 'ALL CPUs/TCG')], pins);
      assert.deepEqual(steps[1], { kind: 'pin-thread', pid: 100, tid: 102, comm: 'ALL CPUs/TCG', cpus: [1, 9], previous: [0, 1, 2, 3] });
    });

    it('refuses when a vCPU has no named thread, or QEMU runs more vCPUs than planned', () => {
      assert.throws(
        () => planThreadPins('win10', 100, [thread(100, 'qemu-system-x86'), thread(103, 'CPU 0/KVM')], pins),
        (e: unknown) => e instanceof CpuError && /^QEMU 100 of VM win10 has no thread named "CPU 1\/KVM" or "CPU 1\/TCG"/.test(e.message),
      );
      assert.throws(
        () => planThreadPins('win10', 100, [thread(103, 'CPU 0/KVM'), thread(104, 'CPU 1/KVM'), thread(105, 'CPU 2/KVM')], pins),
        /runs vCPU 2, but the plan made at prepare has 2 vCPUs; restart the VM/,
      );
    });
  });
});
