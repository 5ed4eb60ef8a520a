// What discovery must find on a simulated host, worked out from the scenario's own data (the
// devices, their groups and boot drivers), independently of the code under test.

import type { PciDeviceSpec, Scenario } from '../../../src/sim/scenario';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { builtinScenarioNames, loadScenario } from '../../../src/sim/scenarios';

/** One mocha describe per built-in scenario, with its simulated host built before and removed after. */
export function describeEachScenario(body: (scenario: Scenario, sim: () => SimHost) => void): void {
  for (const name of builtinScenarioNames()) {
    describe(`scenario ${name}`, () => {
      const scenario = loadScenario(name);
      let sim: SimHost;
      before(async () => {
        sim = await createSimHost(scenario, { zeroDelays: true });
      });
      after(async () => sim.dispose());
      body(scenario, () => sim);
    });
  }
}

export interface ExpectedGpu {
  address: string;
  group: string;
  /** Non-bridge members, the GPU first, then address order. */
  functions: string[];
  drivers: Record<string, string | null>;
  bootVga: boolean;
  /** The member that makes the group non-viable, or null when it is viable. */
  culprit: string | null;
}

export function expectedGpus(scenario: Scenario): ExpectedGpu[] {
  const sorted = [...scenario.devices].sort((a, b) => a.address.localeCompare(b.address));
  return sorted
    .filter((d) => d.class.startsWith('03') && d.iommuGroup !== null)
    .map((gpu) => {
      const members = sorted.filter((d) => d.iommuGroup === gpu.iommuGroup);
      const endpoints = members.filter((d) => !isBridgeClass(d.class));
      const slot = gpu.address.slice(0, gpu.address.lastIndexOf('.'));
      // The card: its slot's display, HD audio, USB and USB-C (UCSI) functions; a NIC or a drive is not.
      const ofCard = (d: PciDeviceSpec): boolean => d.address.startsWith(`${slot}.`) && /^(03|0401|0403|0c03|0c80)/.test(d.class);
      const culprit = endpoints.find((d) => !ofCard(d) && d.driver !== null && d.driver !== 'vfio-pci');
      return {
        address: gpu.address,
        group: String(gpu.iommuGroup),
        functions: [gpu.address, ...endpoints.filter((d) => d.address !== gpu.address).map((d) => d.address)],
        drivers: Object.fromEntries(endpoints.map((d) => [d.address, d.driver])),
        bootVga: gpu.bootVga,
        culprit: culprit?.address ?? null,
      };
    });
}

export function expectedGpusWithoutGroup(scenario: Scenario): string[] {
  return scenario.devices
    .filter((d) => d.class.startsWith('03') && d.iommuGroup === null)
    .map((d) => d.address)
    .sort();
}

/** A device that is no GPU and shares no group with one: what findGpuForAddress must refuse. */
export function unrelatedDevice(scenario: Scenario): string | undefined {
  const gpuGroups = new Set(scenario.devices.filter((d) => d.class.startsWith('03')).map((d) => d.iommuGroup));
  return scenario.devices.find((d) => !d.class.startsWith('03') && (d.iommuGroup === null || !gpuGroups.has(d.iommuGroup)))?.address;
}

/** PCI-to-PCI and CardBus bridges: the only classes the simulator gives a bridge header type. */
function isBridgeClass(classCode: string): boolean {
  return classCode.startsWith('0604') || classCode.startsWith('0607');
}
