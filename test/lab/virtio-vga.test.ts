import assert from 'node:assert/strict';
import { groupCycleTests } from './group-cycle';
import { VIRTIO_VGA } from './lab-scenarios';
import { assertOk, baselineOf, bootedOnce, fbconOf, runNamed } from './lab-tier';
import { GUEST_GPU, GUEST_GPU_AUDIO } from './runner/qemu-machine';

describe(`lab (real kernel): ${VIRTIO_VGA.name}: ${VIRTIO_VGA.proves}`, () => {
  const boot = bootedOnce(VIRTIO_VGA);

  groupCycleTests(VIRTIO_VGA, boot, { [GUEST_GPU]: 'virtio-pci', [GUEST_GPU_AUDIO]: 'snd_hda_intel' });

  it('the GPU on vfio-pci takes a function reset (its reset file), and the attach after it brings the card back working', () => {
    const reset = runNamed(boot().result, 'reset');
    assertOk(reset);
    assert.deepEqual(reset.writes.map((w) => [w.path, w.value, w.error]), [[`sys/bus/pci/devices/${GUEST_GPU}/reset`, '1', undefined]]);
    assert.deepEqual(reset.end, runNamed(boot().result, 'detach').end, 'a reset changes no binding');
    const attach = runNamed(boot().result, 'attach');
    assertOk(attach);
    assert.deepEqual(attach.end, baselineOf(boot().result), 'virtio-pci, virtio_gpu\'s DRM nodes, framebuffer and fbcon are back');
  });

  it("virtio_gpu's framebuffer and fbcon go with virtio-pci on detach and come back on attach: the host is exactly as before", () => {
    const baseline = baselineOf(boot().result);
    assert.deepEqual(baseline.framebuffers, [{ fb: 0, name: 'virtio_gpudrmfb', device: GUEST_GPU }]);
    assert.equal(fbconOf(baseline)?.bind, true);
    const detached = runNamed(boot().result, 'detach').end;
    assert.deepEqual(detached.framebuffers, []);
    assert.equal(fbconOf(detached), undefined);
    const attach = runNamed(boot().result, 'attach');
    assertOk(attach);
    assert.deepEqual(attach.end, baseline);
  });
});
