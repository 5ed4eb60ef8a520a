import assert from 'node:assert/strict';
import { discoverGpus, findGpuForAddress, NoSuchPciDeviceError, NotAGpuError } from '../../../src/host/gpu-inventory';
import { readPreflightFacts } from '../../../src/host/preflight';
import { currentViability, gpuViability } from '../../../src/host/viability';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { builtinScenarioNames, loadScenario } from '../../../src/sim/scenarios';
import { describeEachScenario, expectedGpus, expectedGpusWithoutGroup, unrelatedDevice } from './scenario-oracle';

// The hosts issue 3 asks for, written out by hand: GPU address, IOMMU group, and the culprit that
// makes the group non-viable (null: viable). A second opinion next to the scenario-derived oracle.
const ISSUE_HOSTS: Record<string, [string, string, string | null][]> = {
  seed: [['0000:01:00.0', '13', null]],
  amd: [['0000:0c:00.0', '18', null]],
  'two-gpu': [
    ['0000:00:02.0', '2', null],
    ['0000:01:00.0', '16', null],
  ],
  'server-8gpu': [
    ['0000:01:00.0', '1', null],
    ['0000:02:00.0', '2', null],
    ['0000:04:00.0', '6', null],
    ['0000:41:00.0', '11', null],
    ['0000:42:00.0', '12', null],
    ['0000:81:00.0', '21', null],
    ['0000:82:00.0', '22', null],
    ['0000:c1:00.0', '31', null],
    ['0000:c2:00.0', '32', null],
  ],
  'shared-group': [['0000:01:00.0', '1', '0000:02:00.0']],
};

describe('host discovery on every built-in simulated host', () => {
  it("ships every host issue 3 asks for", () => {
    for (const name of Object.keys(ISSUE_HOSTS)) assert.ok(builtinScenarioNames().includes(name), name);
  });

  describeEachScenario((scenario, host) => {
    const issueGpus = ISSUE_HOSTS[scenario.name];
    if (issueGpus) {
      it("finds exactly the GPUs of the issue's host", () => {
        const found = discoverGpus(host().io).gpus.map((gpu): [string, string, string | null] => {
          const v = gpuViability(gpu);
          return [gpu.address, gpu.group.id, v.viable ? null : v.culprit];
        });
        assert.deepEqual(found, issueGpus);
      });
    }

    it('finds the GPUs with their groups, functions, drivers, boot VGA and viability', () => {
      const inventory = discoverGpus(host().io);
      const found = inventory.gpus.map((gpu) => {
        const v = gpuViability(gpu);
        return {
          address: gpu.address,
          group: gpu.group.id,
          functions: gpu.functions.map((f) => f.address),
          drivers: Object.fromEntries(gpu.functions.map((f) => [f.address, f.driver])),
          bootVga: gpu.bootVga,
          culprit: v.viable ? null : v.culprit,
        };
      });
      assert.deepEqual(found, expectedGpus(scenario));
      assert.deepEqual(inventory.gpusWithoutGroup.map((d) => d.address), expectedGpusWithoutGroup(scenario));
    });

    it('leads every member of a GPU group to its GPU and refuses other and unknown devices', () => {
      for (const gpu of expectedGpus(scenario)) {
        for (const address of gpu.functions) {
          assert.equal(findGpuForAddress(host().io, address).address, gpu.address, address);
        }
      }
      assert.throws(() => findGpuForAddress(host().io, '0000:7f:1f.7'), NoSuchPciDeviceError);
      const other = unrelatedDevice(scenario);
      if (other) assert.throws(() => findGpuForAddress(host().io, other), NotAGpuError, other);
    });

    it('reads the preflight facts the scenario describes', () => {
      const facts = readPreflightFacts(host().io);
      assert.equal(facts.iommuGroupsPresent, scenario.iommuGroupType !== null);
      assert.equal(facts.kernelRelease, scenario.kernel.release);
      assert.equal(facts.cpuVirtualization, scenario.cpu.vendor === 'intel' ? 'vmx' : 'svm');
      const vfio = scenario.modules.find((m) => m.name === 'vfio_pci');
      assert.equal(facts.vfioPci.loaded, vfio?.loaded ?? false);
    });
  });

  describe('the seed host after its GPU group moved to vfio-pci through the emulator', () => {
    let sim: SimHost;

    before(async () => {
      sim = await createSimHost(loadScenario('seed'), { zeroDelays: true });
      const [gpu] = discoverGpus(sim.io).gpus;
      for (const f of gpu.functions) {
        await sim.io.write(`sys/bus/pci/devices/${f.address}/driver_override`, 'vfio-pci');
        await sim.io.write(`sys/bus/pci/drivers/${f.driver}/unbind`, f.address);
        await sim.io.write('sys/bus/pci/drivers_probe', f.address);
      }
    });
    after(async () => sim.dispose());

    it('shows every function on vfio-pci with the override, and the group ready for a VM now', () => {
      const [gpu] = discoverGpus(sim.io).gpus;
      assert.deepEqual(
        gpu.functions.map((f) => [f.address, f.driver, f.driverOverride, f.driverModule]),
        ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'].map((a) => [a, 'vfio-pci', 'vfio-pci', 'vfio_pci']),
      );
      assert.deepEqual(currentViability(gpu.group), { viable: true });
      assert.deepEqual(gpuViability(gpu), { viable: true });
      assert.equal(readPreflightFacts(sim.io).devVfioPresent, true);
    });
  });
});
