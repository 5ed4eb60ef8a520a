import assert from 'node:assert/strict';
import { VFIO_DRIVER } from '../../src/host/pci-device';
import { assertSimulatorAgrees, runOnSimulator } from './differential';
import { LEFTOVERS } from './lab-scenarios';
import { assertOk, baselineOf, bootedOnce, driverOf, runNamed, SIM_REPLAY_TIMEOUT_MS } from './lab-tier';
import { GUEST_GPU, GUEST_GPU_AUDIO } from './runner/qemu-machine';

describe(`lab (real kernel): ${LEFTOVERS.name}: ${LEFTOVERS.proves}`, () => {
  const boot = bootedOnce(LEFTOVERS);
  const cameBack = `${GUEST_GPU_AUDIO} was on vfio-pci by driver_override when gpu-hookd took it; given back to the kernel, which chose snd_hda_intel for it`;

  it('another tool leaves the audio function on vfio-pci by driver_override', () => {
    const run = runNamed(boot().result, 'left by another tool');
    assertOk(run);
    assert.deepEqual(driverOf(run.end, GUEST_GPU_AUDIO), { driver: VFIO_DRIVER, override: VFIO_DRIVER });
    assert.deepEqual(driverOf(run.end, GUEST_GPU), { driver: 'bochs-drm', override: null });
  });

  it('an attach of the GPU gpu-hookd never moved gives it to the driver the kernel chooses, and says so: the host is as it booted', () => {
    const run = runNamed(boot().result, 'attach never moved');
    assertOk(run);
    assert.deepEqual(run.steps.map((s) => s.description), [
      `clear driver_override of ${GUEST_GPU_AUDIO}`,
      `unbind ${GUEST_GPU_AUDIO} from vfio-pci`,
      `probe ${GUEST_GPU_AUDIO} for the driver the kernel chooses`,
    ]);
    assert.deepEqual(run.steps.flatMap((s) => (s.note ? [s.note] : [])), [cameBack]);
    assert.deepEqual(run.end, baselineOf(boot().result));
  });

  it('a detach that finds it on vfio-pci leaves it there, and the attach after it gives it to the kernel\'s choice: the host is as it booted', () => {
    const detach = runNamed(boot().result, 'detach');
    assertOk(detach);
    assert.ok(!detach.steps.some((s) => s.device === GUEST_GPU_AUDIO), 'the audio function already was on vfio-pci');
    assert.deepEqual(driverOf(detach.end, GUEST_GPU), { driver: VFIO_DRIVER, override: VFIO_DRIVER });
    const attach = runNamed(boot().result, 'attach');
    assertOk(attach);
    assert.deepEqual(attach.steps.flatMap((s) => (s.note ? [s.note] : [])), [cameBack]);
    assert.deepEqual(attach.end, baselineOf(boot().result));
  });

  it(`the simulated host (${LEFTOVERS.simScenario}) goes through the same states, step by step`, async function () {
    this.timeout(SIM_REPLAY_TIMEOUT_MS);
    assertSimulatorAgrees(boot().result, await runOnSimulator(LEFTOVERS));
  });
});
