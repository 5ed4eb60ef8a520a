import assert from 'node:assert/strict';
import { CpuError } from '../../../src/cpu/cpu-error';
import { formatCpuList } from '../../../src/cpu/cpu-list';
import { planAutoPins } from '../../../src/cpu/pin-plan';
import { SEED, TWO_CPUS, topologyOf } from './topology-fixtures';

const list = formatCpuList;

describe('automatic vCPU pinning by topology', () => {
  describe('the seed\'s host (8 cores / 16 threads, siblings N and N+8)', () => {
    it('gives a 14-vCPU guest cores 1-7 as thread pairs and leaves core 0 (CPUs 0,8) to the host, as the seed did', () => {
      const plan = planAutoPins(SEED, 14, 'win10');
      assert.deepEqual(plan.vcpuPins, [1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15]);
      assert.equal(list(plan.vmCpus), '1-7,9-15');
      assert.equal(list(plan.housekeeping), '0,8');
      assert.deepEqual(plan.guestTopology, { sockets: 1, dies: 1, cores: 7, threads: 2 });
      assert.deepEqual(plan.notes, []);
    });

    it('gives a small guest only the cores it needs; the host keeps the rest', () => {
      const plan = planAutoPins(SEED, 4, 'small');
      assert.deepEqual(plan.vcpuPins, [1, 9, 2, 10]);
      assert.equal(list(plan.housekeeping), '0,3-8,11-15');
      assert.deepEqual(plan.guestTopology, { sockets: 1, dies: 1, cores: 2, threads: 2 });
    });

    it('keeps a whole core for an odd vCPU count and tells the guest one thread per core', () => {
      const plan = planAutoPins(SEED, 3, 'odd');
      assert.deepEqual(plan.vcpuPins, [1, 9, 2]);
      assert.equal(list(plan.vmCpus), '1-2,9-10');
      assert.deepEqual(plan.guestTopology, { sockets: 1, dies: 1, cores: 3, threads: 1 });
    });

    it('leaves out whole cores that hold a housekeeping CPU from the config', () => {
      const plan = planAutoPins(SEED, 4, 'vm', { housekeeping: [0, 1, 8, 9] });
      assert.deepEqual(plan.vcpuPins, [2, 10, 3, 11]);
      assert.equal(list(plan.housekeeping), '0-1,8-9');
      // CPU 8 is core 0's sibling: with housekeeping "0" alone it idles rather than sit beside a vCPU.
      assert.equal(list(planAutoPins(SEED, 14, 'vm', { housekeeping: [0] }).vmCpus), '1-7,9-15');
    });

    it('avoids CPUs another running VM holds', () => {
      const plan = planAutoPins(SEED, 4, 'second', { taken: [1, 2, 9, 10] });
      assert.deepEqual(plan.vcpuPins, [3, 11, 4, 12]);
      assert.equal(list(plan.housekeeping), '0,5-8,13-15');
    });

    it('shares CPUs when the guest has more vCPUs than the free cores have threads, and says so', () => {
      const plan = planAutoPins(SEED, 16, 'big');
      assert.deepEqual(plan.vcpuPins, [1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15, 1, 9]);
      assert.equal(list(plan.housekeeping), '0,8');
      assert.equal(plan.guestTopology.threads, 1);
      assert.match(plan.notes[0], /16 vCPUs share CPUs 1-7,9-15 \(14 host CPUs\).*give the VM at most 14 vCPUs/);
    });
  });

  it('SMT off (8 cores, 1 thread each): one CPU per vCPU, no threads in the guest', () => {
    const plan = planAutoPins(topologyOf({ cores: 8, threads: 1 }), 6, 'vm');
    assert.deepEqual(plan.vcpuPins, [1, 2, 3, 4, 5, 6]);
    assert.equal(list(plan.housekeeping), '0,7');
    assert.deepEqual(plan.guestTopology, { sockets: 1, dies: 1, cores: 6, threads: 1 });
  });

  it('adjacent sibling numbering (2n, 2n+1) keeps pairs together too', () => {
    const plan = planAutoPins(topologyOf({ cores: 4, threads: 2, siblings: 'adjacent' }), 4, 'vm');
    assert.deepEqual(plan.vcpuPins, [2, 3, 4, 5]);
    assert.equal(list(plan.housekeeping), '0-1,6-7');
  });

  describe('two sockets (2 x 8 cores / 16 threads; package 0 is CPUs 0-7,16-23)', () => {
    const twoSockets = topologyOf({ sockets: 2, cores: 8, threads: 2 });

    it('keeps a guest that fits in one package inside the first package that can hold it', () => {
      assert.equal(list(planAutoPins(twoSockets, 14, 'vm').vmCpus), '1-7,17-23');
      // Package 0 has 7 free cores after the host's core: 16 vCPUs go to package 1 whole.
      const plan = planAutoPins(twoSockets, 16, 'vm');
      assert.equal(list(plan.vmCpus), '8-15,24-31');
      assert.deepEqual(plan.guestTopology, { sockets: 1, dies: 1, cores: 8, threads: 2 });
    });

    it('spreads a guest too large for one package over both, and tells it two sockets when the halves are equal', () => {
      const plan = planAutoPins(twoSockets, 28, 'vm', { housekeeping: [0, 16, 8, 24] });
      assert.equal(list(plan.vmCpus), '1-7,9-15,17-23,25-31');
      assert.deepEqual(plan.guestTopology, { sockets: 2, dies: 1, cores: 7, threads: 2 });
      const uneven = planAutoPins(twoSockets, 30, 'vm');
      assert.deepEqual(uneven.guestTopology, { sockets: 1, dies: 1, cores: 15, threads: 2 });
    });
  });

  describe('hybrid P/E-cores (8 P-cores with 2 threads = CPUs 0-15, 8 E-cores = CPUs 16-23)', () => {
    const hybrid = topologyOf({ hybrid: { performanceCores: 8, efficiencyCores: 8 } });

    it('runs a guest that fits on P-cores only', () => {
      const plan = planAutoPins(hybrid, 8, 'vm');
      assert.deepEqual(plan.vcpuPins, [2, 3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(plan.guestTopology, { sockets: 1, dies: 1, cores: 4, threads: 2 });
      assert.deepEqual(plan.notes, []);
    });

    it('adds E-cores after every free P-core, without claiming SMT to the guest, and says so', () => {
      const plan = planAutoPins(hybrid, 18, 'vm');
      assert.equal(list(plan.vmCpus), '2-19');
      assert.deepEqual(plan.guestTopology, { sockets: 1, dies: 1, cores: 18, threads: 1 });
      assert.match(plan.notes.join(' '), /P-cores and E-cores/);
    });
  });

  describe('offline CPUs', () => {
    it('never plans an offline CPU and skips a core that is wholly offline', () => {
      const plan = planAutoPins(topologyOf({ cores: 8, threads: 2, offline: [3, 11] }), 10, 'vm');
      assert.deepEqual(plan.vcpuPins, [1, 9, 2, 10, 4, 12, 5, 13, 6, 14]);
      assert.equal(list(plan.housekeeping), '0,7-8,15');
    });

    it('prefers whole cores over one whose sibling is offline', () => {
      const plan = planAutoPins(topologyOf({ cores: 8, threads: 2, offline: [11] }), 8, 'vm');
      assert.deepEqual(plan.vcpuPins, [1, 9, 2, 10, 4, 12, 5, 13]);
      assert.deepEqual(plan.guestTopology, { sockets: 1, dies: 1, cores: 4, threads: 2 });
    });
  });

  it('on this development machine (2 cores, no SMT) puts a 2-vCPU guest on CPU 1 and keeps CPU 0 for the host', () => {
    const plan = planAutoPins(TWO_CPUS, 2, 'e2e');
    assert.deepEqual(plan.vcpuPins, [1, 1]);
    assert.deepEqual(plan.housekeeping, [0]);
    assert.deepEqual(plan.guestTopology, { sockets: 1, dies: 1, cores: 2, threads: 1 });
    assert.match(plan.notes[0], /^2 vCPUs share CPU 1 \(1 host CPU\), so vCPUs wait for each other; give the VM at most 1 vCPU$/);
  });

  it('refuses, naming what to change, when no whole core is left for the VM', () => {
    const err = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof CpuError && e.kind === 'InvalidArgument' && re.test(e.message));
    err(() => planAutoPins(topologyOf({ cores: 1, threads: 2 }), 2, 'vm'), /VM vm cannot be pinned: this host's online CPUs 0-1 leave no whole core once the host keeps CPUs 0-1; set housekeepingCpus to fewer CPUs or set pin to "none"/);
    err(() => planAutoPins(TWO_CPUS, 1, 'vm', { taken: [1] }), /once the host keeps CPU 0 and other VMs hold CPU 1;/);
    err(() => planAutoPins(SEED, 0, 'vm'), /VM vm cannot be pinned: it has 0 vCPUs/);
  });
});
