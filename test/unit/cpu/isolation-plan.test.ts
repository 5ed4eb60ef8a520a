import assert from 'node:assert/strict';
import { CpuError } from '../../../src/cpu/cpu-error';
import type { HostCpuFacts } from '../../../src/cpu/host-cpu-facts';
import { planIsolation } from '../../../src/cpu/isolation-plan';
import { resolveVmCpuLayout, type CpuSettings } from '../../../src/cpu/vm-cpu-layout';
import { readDomainRequest } from '../../../src/libvirt/domain-request';
import { buildTestDomainXml } from '../../support/safe-domain';
import { SEED } from './topology-fixtures';

const ALL: CpuSettings = { isolateCpus: true, pin: 'auto', governor: true, irqAffinity: true, housekeepingCpus: '' };
// 4 vCPUs on the seed: the VM gets CPUs 1-2,9-10, the host keeps 0,3-8,11-15.
const layout = resolveVmCpuLayout(readDomainRequest(buildTestDomainXml({ name: 'win10', vcpus: 4 })), ALL, SEED);
const online = SEED.online;

function facts(over: Partial<HostCpuFacts> = {}): HostCpuFacts {
  return {
    allowedCpus: { 'system.slice': [], 'user.slice': [], 'init.scope': [] },
    cpufreq: layout.vmCpus.map((cpu) => ({ cpu, governor: 'powersave', available: ['performance', 'powersave'] })),
    irqs: [],
    ...over,
  };
}

describe('the isolation plan (plain steps, each with the value it replaces)', () => {
  it('confines system.slice, user.slice and init.scope to the housekeeping CPUs, remembering "every CPU" as []', () => {
    const { steps } = planIsolation(layout, { ...ALL, governor: false, irqAffinity: false }, facts(), online);
    assert.deepEqual(steps, [
      { kind: 'allowed-cpus', unit: 'system.slice', cpus: [0, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15], previous: [] },
      { kind: 'allowed-cpus', unit: 'user.slice', cpus: [0, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15], previous: [] },
      { kind: 'allowed-cpus', unit: 'init.scope', cpus: [0, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15], previous: [] },
    ]);
  });

  it('remembers an earlier non-empty AllowedCPUs and skips a unit already as wanted', () => {
    const { steps } = planIsolation(
      layout,
      { ...ALL, governor: false, irqAffinity: false },
      facts({ allowedCpus: { 'system.slice': [0, 1, 2, 3], 'user.slice': layout.housekeeping, 'init.scope': [] } }),
      online,
    );
    assert.deepEqual(steps.map((s) => s.kind === 'allowed-cpus' && [s.unit, s.previous]), [['system.slice', [0, 1, 2, 3]], ['init.scope', []]]);
  });

  it('switches each of the VM\'s CPUs to "performance" unless it already is', () => {
    const cpufreq = facts().cpufreq.map((f) => (f.cpu === 2 ? { ...f, governor: 'performance' } : f));
    const { steps } = planIsolation(layout, { ...ALL, isolateCpus: false, irqAffinity: false }, facts({ cpufreq }), online);
    assert.deepEqual(steps, [1, 9, 10].map((cpu) => ({ kind: 'cpu-governor', cpu, governor: 'performance', previous: 'powersave' })));
  });

  it('notes a host without cpufreq instead of failing', () => {
    const cpufreq = facts().cpufreq.map((f) => ({ ...f, governor: null, available: [] }));
    const plan = planIsolation(layout, { ...ALL, isolateCpus: false, irqAffinity: false }, facts({ cpufreq }), online);
    assert.deepEqual(plan.steps, []);
    assert.match(plan.notes[0], /CPUs 1-2,9-10 have no cpufreq driver/);
  });

  it('refuses when a CPU offers no "performance" governor, naming the governors it has', () => {
    const cpufreq = facts().cpufreq.map((f) => ({ ...f, available: ['ondemand', 'schedutil'] }));
    assert.throws(
      () => planIsolation(layout, ALL, facts({ cpufreq }), online),
      (e: unknown) => e instanceof CpuError && /^cpu1 of VM win10 has no "performance" cpufreq governor \(it offers ondemand, schedutil\); set governor to false for this VM$/.test(e.message),
    );
  });

  it('steers only interrupts that may reach the VM\'s CPUs, onto what is left of their own CPUs or else the host\'s', () => {
    const irqs = [
      { irq: 0, cpus: [0] },
      { irq: 9, cpus: online },
      { irq: 16, cpus: [1, 2] },
      { irq: 17, cpus: [2, 3] },
    ];
    const { steps } = planIsolation(layout, { ...ALL, isolateCpus: false, governor: false }, facts({ irqs }), online);
    assert.deepEqual(steps, [
      { kind: 'irq-affinity', irq: 9, cpus: layout.housekeeping, previous: online },
      { kind: 'irq-affinity', irq: 16, cpus: layout.housekeeping, previous: [1, 2] },
      { kind: 'irq-affinity', irq: 17, cpus: [3], previous: [2, 3] },
    ]);
  });

  it('never steers an interrupt to offline CPUs only', () => {
    const partlyOnline = online.filter((c) => c !== 3);
    const { steps } = planIsolation(layout, { ...ALL, isolateCpus: false, governor: false }, facts({ irqs: [{ irq: 17, cpus: [2, 3] }] }), partlyOnline);
    assert.deepEqual(steps[0], { kind: 'irq-affinity', irq: 17, cpus: layout.housekeeping.filter((c) => c !== 3), previous: [2, 3] });
  });

  it('orders units, then governors, then interrupts', () => {
    const { steps } = planIsolation(layout, ALL, facts({ irqs: [{ irq: 9, cpus: online }] }), online);
    assert.deepEqual(steps.map((s) => s.kind), ['allowed-cpus', 'allowed-cpus', 'allowed-cpus', 'cpu-governor', 'cpu-governor', 'cpu-governor', 'cpu-governor', 'irq-affinity']);
  });
});
