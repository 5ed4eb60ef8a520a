import assert from 'node:assert/strict';
import { groupCycleTests } from './group-cycle';
import { SEABIOS_BOCHS } from './lab-scenarios';
import { assertOk, baselineOf, bootedOnce, fbconOf, runNamed } from './lab-tier';
import { GUEST_GPU, GUEST_GPU_AUDIO } from './runner/qemu-machine';

describe(`lab (real kernel): ${SEABIOS_BOCHS.name}: ${SEABIOS_BOCHS.proves}`, () => {
  const boot = bootedOnce(SEABIOS_BOCHS);

  groupCycleTests(SEABIOS_BOCHS, boot, { [GUEST_GPU]: 'bochs-drm', [GUEST_GPU_AUDIO]: 'snd_hda_intel' });

  it('fbcon sits on bochs-drm at boot, its vtconsole vanishes with the framebuffer on detach', () => {
    const baseline = baselineOf(boot().result);
    assert.deepEqual(fbconOf(baseline), { name: '(M) frame buffer device', bind: true });
    assert.deepEqual(baseline.framebuffers, [{ fb: 0, name: 'bochs-drmdrmfb', device: GUEST_GPU }]);
    const detached = runNamed(boot().result, 'detach').end;
    assert.equal(fbconOf(detached), undefined);
    assert.deepEqual(detached.framebuffers, []);
  });

  it('attach brings bochs-drm, snd_hda_intel and fbcon back: the host is exactly as before detach', () => {
    const run = runNamed(boot().result, 'attach');
    assertOk(run);
    const attached = run.end;
    assert.deepEqual(fbconOf(attached), { name: '(M) frame buffer device', bind: true });
    assert.deepEqual(attached, baselineOf(boot().result));
  });
});
