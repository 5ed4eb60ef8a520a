// The single-GPU handover's console steps on a real kernel (the lab guest has no systemd, so the
// display manager's part is tested with the stand-ins in test/e2e/handover): fbcon's vtconsole
// unbound by name before the detach and bound by name after the attach, and the firmware framebuffer
// unbound before vfio-pci takes the boot VGA, then reported plainly as removed by the kernel. Each
// job also runs on the scenario's simulated twin, which must agree step by step.

import assert from 'node:assert/strict';
import type { StepSpec } from '../../src/engine/step-spec';
import { FBCON_CONSOLE_NAME } from '../../src/host/consoles';
import { assertSimulatorAgrees, runOnSimulator } from './differential';
import type { TransitionJob } from './lab-job';
import { OVMF_EFIFB, SEABIOS_BOCHS, type LabScenario } from './lab-scenarios';
import { assertOk, baselineOf, bootedOnce, fbconOf, runNamed, SIM_REPLAY_TIMEOUT_MS } from './lab-tier';
import { GUEST_GPU } from './runner/qemu-machine';

const EFIFB = { framebuffer: 'efi-framebuffer.0', driver: 'efi-framebuffer', gpu: GUEST_GPU };

function handoverJob(base: LabScenario, before: StepSpec[], after: StepSpec[]): TransitionJob {
  const job = base.job as TransitionJob;
  return {
    kind: 'transitions',
    settle: job.settle,
    list: false,
    runs: [
      { label: 'consoles off', action: 'steps', gpu: GUEST_GPU, steps: before },
      { label: 'detach', action: 'detach', gpu: GUEST_GPU },
      { label: 'attach', action: 'attach', gpu: GUEST_GPU },
      { label: 'consoles back', action: 'steps', gpu: GUEST_GPU, steps: after },
    ],
  };
}

const BOCHS_HANDOVER: LabScenario = {
  ...SEABIOS_BOCHS,
  name: 'seabios-bochs-handover',
  proves: 'fbcon on bochs-drm: its vtconsole unbound by name, gone with the framebuffer, and found by name again',
  job: handoverJob(SEABIOS_BOCHS, [{ kind: 'unbind-vtconsole', name: FBCON_CONSOLE_NAME }], [{ kind: 'bind-vtconsole', name: FBCON_CONSOLE_NAME }]),
};

const EFIFB_HANDOVER: LabScenario = {
  ...OVMF_EFIFB,
  name: 'ovmf-efifb-handover',
  proves: 'efifb on the boot VGA: unbound before vfio-pci, removed by the kernel, and said so on the way back',
  job: handoverJob(
    OVMF_EFIFB,
    [
      { kind: 'unbind-vtconsole', name: FBCON_CONSOLE_NAME },
      { kind: 'unbind-firmware-fb', ...EFIFB },
    ],
    [
      { kind: 'bind-firmware-fb', ...EFIFB },
      { kind: 'bind-vtconsole', name: FBCON_CONSOLE_NAME },
    ],
  ),
};

describe(`lab (real kernel): ${BOCHS_HANDOVER.name}: ${BOCHS_HANDOVER.proves}`, () => {
  const boot = bootedOnce(BOCHS_HANDOVER);

  it('unbinding fbcon by name hands the VTs to the dummy console', () => {
    assert.equal(fbconOf(baselineOf(boot().result))?.bind, true);
    const off = runNamed(boot().result, 'consoles off');
    assertOk(off);
    assert.equal(fbconOf(off.end)?.bind, false);
    assert.ok(off.end.vtconsoles.some((v) => v.name !== FBCON_CONSOLE_NAME && v.bind), JSON.stringify(off.end.vtconsoles));
  });

  it('the detach takes fbcon away with the framebuffer; after the attach binding it by name is all it takes', () => {
    assertOk(runNamed(boot().result, 'detach'));
    assert.equal(fbconOf(runNamed(boot().result, 'detach').end), undefined);
    assertOk(runNamed(boot().result, 'attach'));
    const back = runNamed(boot().result, 'consoles back');
    assertOk(back);
    assert.deepEqual(back.steps.map((s) => [s.description, s.note]), [[`bind vtconsole "${FBCON_CONSOLE_NAME}"`, undefined]]);
    assert.equal(fbconOf(back.end)?.bind, true);
    assert.deepEqual(back.end.vtconsoles, baselineOf(boot().result).vtconsoles);
  });

  it('the simulated twin agrees with the kernel at every step', async function () {
    this.timeout(SIM_REPLAY_TIMEOUT_MS);
    assertSimulatorAgrees(boot().result, await runOnSimulator(BOCHS_HANDOVER));
  });
});

describe(`lab (real kernel): ${EFIFB_HANDOVER.name}: ${EFIFB_HANDOVER.proves}`, () => {
  const boot = bootedOnce(EFIFB_HANDOVER);

  it('unbinding efifb before the detach takes its framebuffer, and fbcon with it', () => {
    const off = runNamed(boot().result, 'consoles off');
    assertOk(off);
    assert.deepEqual(off.end.platformFramebuffers, [{ device: 'efi-framebuffer.0', driver: null }]);
    assert.deepEqual(off.end.framebuffers, []);
    assert.equal(fbconOf(off.end), undefined);
  });

  it('vfio-pci taking the boot VGA removes the unbound efi-framebuffer.0, and the way back says so plainly', () => {
    const detach = runNamed(boot().result, 'detach');
    assertOk(detach);
    assert.deepEqual(detach.end.platformFramebuffers, []);
    assertOk(runNamed(boot().result, 'attach'));
    const back = runNamed(boot().result, 'consoles back');
    assertOk(back);
    assert.deepEqual(back.steps.map((s) => s.note), [
      `the kernel removed efi-framebuffer.0 when ${GUEST_GPU} went to vfio-pci, so it cannot be bound again; the console comes back with the framebuffer of ${GUEST_GPU}'s own driver`,
      `vtconsole "${FBCON_CONSOLE_NAME}" is not there to bind: no framebuffer is registered, so the screen shows no text console until a driver with a framebuffer binds`,
    ]);
  });

  it('the simulated twin agrees with the kernel at every step', async function () {
    this.timeout(SIM_REPLAY_TIMEOUT_MS);
    assertSimulatorAgrees(boot().result, await runOnSimulator(EFIFB_HANDOVER));
  });
});
