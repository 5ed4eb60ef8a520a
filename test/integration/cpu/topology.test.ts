// readCpuTopology over simulated hosts of every shape the planner knows, against the same machines
// built in memory (test/unit/cpu/topology-fixtures): sysfs and the planner's view must agree.

import assert from 'node:assert/strict';
import { describeTopology, readCpuTopology } from '../../../src/cpu/cpu-topology';
import { planAutoPins } from '../../../src/cpu/pin-plan';
import { SysfsHostIO } from '../../../src/host/host-io';
import { cpuSpec, topologyOf, type TopologySpec } from '../../unit/cpu/topology-fixtures';
import { cpuHost } from './cpu-host';

const SHAPES: { name: string; spec: TopologySpec; summary: string }[] = [
  { name: 'the seed (8c/16t)', spec: { cores: 8, threads: 2 }, summary: '8 cores / 16 threads online in 1 package' },
  { name: 'SMT off', spec: { cores: 8, threads: 1 }, summary: '8 cores / 8 threads online in 1 package' },
  { name: 'two sockets', spec: { sockets: 2, cores: 8, threads: 2 }, summary: '16 cores / 32 threads online in 2 packages' },
  { name: 'hybrid P/E', spec: { hybrid: { performanceCores: 8, efficiencyCores: 8 } }, summary: '16 cores / 24 threads online in 1 package (8 P-cores, 8 E-cores)' },
  { name: 'offline CPUs', spec: { cores: 8, threads: 2, offline: [3, 11, 14] }, summary: '7 cores / 13 threads online in 1 package, 3 CPUs offline' },
  { name: 'adjacent siblings', spec: { cores: 4, threads: 2, siblings: 'adjacent' }, summary: '4 cores / 8 threads online in 1 package' },
];

describe('the host\'s CPU topology read from sysfs', () => {
  for (const shape of SHAPES) {
    it(`${shape.name}: cores, packages and online CPUs as the planner expects`, async () => {
      const cpu = cpuSpec(shape.spec);
      const h = await cpuHost({ cpu: { ...cpu, hybrid: cpu.hybrid ?? undefined } });
      try {
        const topology = readCpuTopology(h.host.io);
        assert.deepEqual(topology, topologyOf(shape.spec));
        assert.equal(describeTopology(topology), shape.summary);
        // The tree and the in-memory machine plan alike.
        assert.deepEqual(planAutoPins(topology, 4, 'vm'), planAutoPins(topologyOf(shape.spec), 4, 'vm'));
      } finally {
        await h.dispose();
      }
    });
  }

  it('follows CPU hotplug: a CPU taken offline leaves its core', async () => {
    const h = await cpuHost();
    try {
      await h.host.io.write('sys/devices/system/cpu/cpu9/online', '0');
      const topology = readCpuTopology(h.host.io);
      assert.deepEqual(topology.cores.find((c) => c.cpus.includes(1))?.cpus, [1]);
      assert.equal(topology.online.includes(9), false);
      assert.equal(topology.possible.includes(9), true);
    } finally {
      await h.dispose();
    }
  });

  it('says plainly when sysfs has no CPUs at all', async () => {
    const h = await cpuHost();
    try {
      assert.throws(() => readCpuTopology(new SysfsHostIO(`${h.host.root}/sys`)), /the host's CPUs cannot be read: .*\/sys\/sys\/devices\/system\/cpu\/possible is missing \(is sysfs mounted\?\)/);
    } finally {
      await h.dispose();
    }
  });
});
