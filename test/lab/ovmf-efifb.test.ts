import assert from 'node:assert/strict';
import { groupCycleTests } from './group-cycle';
import { OVMF_EFIFB } from './lab-scenarios';
import { assertOk, baselineOf, bootedOnce, fbconOf, runNamed } from './lab-tier';
import { GUEST_GPU, GUEST_GPU_AUDIO } from './runner/qemu-machine';

describe(`lab (real kernel): ${OVMF_EFIFB.name}: ${OVMF_EFIFB.proves}`, () => {
  const boot = bootedOnce(OVMF_EFIFB);

  groupCycleTests(OVMF_EFIFB, boot, { [GUEST_GPU]: null, [GUEST_GPU_AUDIO]: 'snd_hda_intel' });

  it('at boot efifb scans out of the boot VGA, which has no PCI driver, and fbcon sits on it', () => {
    const baseline = baselineOf(boot().result);
    assert.deepEqual(baseline.platformFramebuffers, [{ device: 'efi-framebuffer.0', driver: 'efi-framebuffer' }]);
    assert.deepEqual(baseline.framebuffers, [{ fb: 0, name: 'EFI VGA', device: 'efi-framebuffer.0' }]);
    assert.equal(fbconOf(baseline)?.bind, true);
  });

  it('vfio-pci taking the boot VGA makes the kernel remove efi-framebuffer.0, and fbcon with it', () => {
    const run = runNamed(boot().result, 'detach');
    assertOk(run);
    const probed = run.snapshots.find((s) => s.after === `do probe ${GUEST_GPU} for vfio-pci`);
    assert.ok(probed, `no snapshot after probing ${GUEST_GPU}: ${run.snapshots.map((s) => s.after).join('; ')}`);
    assert.deepEqual(probed.snapshot.platformFramebuffers, []);
    assert.deepEqual(probed.snapshot.framebuffers, []);
    assert.equal(fbconOf(probed.snapshot), undefined);
  });

  it('attach restores the driver state of both functions, and the removed efifb stays gone', () => {
    const run = runNamed(boot().result, 'attach');
    assertOk(run);
    const attached = run.end;
    const baseline = baselineOf(boot().result);
    assert.deepEqual(attached.pciDevices, baseline.pciDevices);
    assert.deepEqual(attached.vfio, baseline.vfio);
    assert.deepEqual(attached.platformFramebuffers, []);
    assert.equal(fbconOf(attached), undefined);
  });
});
