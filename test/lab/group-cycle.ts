// The checks every detach/attach scenario of the lab makes on its boot's result: the GPU as
// gpu-hookctl lists it, both functions on vfio-pci and back, idempotence, and the differential check
// against the simulated host. Scenario files add what is special to their machine.

import assert from 'node:assert/strict';
import { VFIO_DRIVER } from '../../src/host/pci-device';
import { readFunctionResets, type FunctionResets } from '../../src/host/pci-reset';
import { loadScenario } from '../../src/sim/scenarios';
import { createSimHost } from '../../src/sim/sim-host';
import { assertSimulatorAgrees, runOnSimulator } from './differential';
import type { LabScenario } from './lab-scenarios';
import { assertOk, baselineOf, driverOf, runNamed, SIM_REPLAY_TIMEOUT_MS } from './lab-tier';
import type { LabBoot } from './runner/lab-boot';
import { GUEST_GPU } from './runner/qemu-machine';

interface ListedGpu {
  address: string;
  iommuGroup: string;
  functions: string[];
  viability: { viable: boolean };
  resets: { functions: FunctionResets[] };
}

/** The GPU as `gpu-hookctl list --json` printed it in the guest. */
export function listedGpu(boot: LabBoot): ListedGpu {
  const list = boot.result.list;
  assert.ok(list, 'the guest did not run gpu-hookctl list');
  assert.equal(list.exitCode, 0, `gpu-hookctl list --json failed in the guest: ${list.stderr}`);
  const gpus = (JSON.parse(list.stdout) as { gpus: ListedGpu[] }).gpus;
  const gpu = gpus.find((g) => g.address === GUEST_GPU);
  assert.ok(gpu, `gpu-hookctl list shows no GPU ${GUEST_GPU}: ${list.stdout}`);
  return gpu;
}

/** hostDrivers: each function of the GPU and its driver before detach (null: none). */
export function groupCycleTests(scenario: LabScenario, boot: () => LabBoot, hostDrivers: Record<string, string | null>): void {
  const functions = Object.keys(hostDrivers);

  it('gpu-hookctl list --json shows the GPU with its functions in one viable IOMMU group', () => {
    const gpu = listedGpu(boot());
    assert.deepEqual(gpu.functions, functions);
    assert.equal(gpu.viability.viable, true);
    for (const f of functions) assert.deepEqual(driverOf(baselineOf(boot().result), f), { driver: hostDrivers[f], override: null });
  });

  it('the kernel\'s reset methods of each function (reset_method, reset) are the simulator\'s', async () => {
    const fromKernel = listedGpu(boot()).resets.functions;
    assert.deepEqual(fromKernel.map((r) => r.address), functions);
    const sim = await createSimHost(loadScenario(scenario.simScenario), { zeroDelays: true });
    try {
      assert.deepEqual(fromKernel.map((r) => readFunctionResets(sim.io, r.address)), fromKernel);
    } finally {
      await sim.dispose();
    }
  });

  it('detach puts every function on vfio-pci with driver_override set, and /dev/vfio/<group> appears', () => {
    const run = runNamed(boot().result, 'detach');
    assertOk(run);
    assert.equal(run.changed, true);
    for (const f of functions) assert.deepEqual(driverOf(run.end, f), { driver: VFIO_DRIVER, override: VFIO_DRIVER }, f);
    const group = listedGpu(boot()).iommuGroup;
    assert.ok(run.end.vfio.includes(group), `/dev/vfio/${group} missing after detach: ${run.end.vfio.join(' ')}`);
  });

  it('a second detach finds nothing to do and changes nothing', () => {
    const first = runNamed(boot().result, 'detach');
    const again = runNamed(boot().result, 'detach again');
    assertOk(again);
    assert.equal(again.changed, false);
    assert.deepEqual(again.writes, []);
    assert.deepEqual(again.end, first.end);
  });

  it('attach clears the overrides, gives each function its host driver back and /dev/vfio/<group> goes', () => {
    const run = runNamed(boot().result, 'attach');
    assertOk(run);
    assert.equal(run.changed, true);
    for (const f of functions) assert.deepEqual(driverOf(run.end, f), { driver: hostDrivers[f], override: null }, f);
    const group = listedGpu(boot()).iommuGroup;
    assert.ok(!run.end.vfio.includes(group), `/dev/vfio/${group} still there after attach`);
  });

  it('a second attach finds nothing to do', () => {
    const again = runNamed(boot().result, 'attach again');
    assertOk(again);
    assert.equal(again.changed, false);
    assert.deepEqual(again.writes, []);
  });

  it(`the simulated host (${scenario.simScenario}) goes through the same states, step by step`, async function () {
    this.timeout(SIM_REPLAY_TIMEOUT_MS);
    const sim = await runOnSimulator(scenario);
    assertSimulatorAgrees(boot().result, sim);
  });
}
