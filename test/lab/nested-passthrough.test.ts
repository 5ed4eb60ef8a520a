import assert from 'node:assert/strict';
import type { ListReport } from '../../src/cli/list-report';
import { VFIO_DRIVER } from '../../src/host/pci-device';
import { fbconOf, LAB_SETUP_TIMEOUT_MS } from './lab-tier';
import type { NestedResult } from './nested/nested-job';
import { bootNested, NESTED_JOB, NESTED_PASSTHROUGH } from './nested/nested-scenario';
import type { LabBoot } from './runner/lab-boot';

const { gpu: GPU, audio: AUDIO } = NESTED_JOB;
/** isa-debug-exit: QEMU exits with (value << 1) | 1, and the workload writes 0 when all went well. */
const WORKLOAD_OK_EXIT = 1;
/** QEMU's generic HDA codec: vendor 1af4 (Red Hat), device 0012. */
const QEMU_HDA_CODEC = '1af40012';

describe(`lab (real kernel): ${NESTED_PASSTHROUGH.name}: ${NESTED_PASSTHROUGH.proves}`, () => {
  let boot: LabBoot | undefined;
  before(async function () {
    this.timeout(LAB_SETUP_TIMEOUT_MS);
    boot = await bootNested();
  });
  const nested = (): NestedResult => {
    assert.ok(boot?.result.nested, 'the nested scenario did not boot or reported nothing');
    return boot.result.nested;
  };

  it('the nested QEMU starts with both functions gpu-hookd detached, its workload drives them, and it exits cleanly', () => {
    const { detach, workload } = nested();
    assert.ok(detach.ok, `detach failed: ${detach.error?.message}`);
    assert.equal(workload.timedOut, false, 'the nested QEMU was killed at its timeout');
    assert.equal(workload.stderr, '', 'the nested QEMU complained');
    assert.equal(workload.exitCode, WORKLOAD_OK_EXIT, `the workload reported failure:\n${workload.serial}`);
    const report = workload.workload;
    assert.ok(report, `the workload printed no result:\n${workload.serial}`);
    assert.equal(report.vga.found && report.hda.found, true, `the nested guest does not see both functions: ${JSON.stringify(report.devices)}`);
    assert.match(report.vga.vbeId, /^b0c[0-5]$/, 'MMIO read of the display function');
    assert.equal(report.vga.framebufferReadback, '5a17c0de', 'MMIO write and read back in the framebuffer BAR');
    assert.equal(report.hda.dma, true, 'DMA round trip of the audio function');
    assert.equal(report.hda.codecVendor, QEMU_HDA_CODEC);
    assert.equal(report.ok, true);
  });

  it('after the nested VM, attach brings bochs-drm, snd_hda_intel and fbcon back: the host is as it booted', () => {
    const { release, afterAttach, baseline } = nested();
    assert.ok(release.retry.ok, `attach failed: ${release.retry.error?.message}`);
    assert.deepEqual(fbconOf(afterAttach), { name: '(M) frame buffer device', bind: true });
    assert.deepEqual(afterAttach, baseline);
  });

  it('the kernel (VFIO_GROUP_GET_STATUS) and the sysfs rule agree on viability at every binding', () => {
    const checks = nested().viability;
    assert.deepEqual(
      checks.map((c) => [c.state, c.kernel.answer === 'status' && c.kernel.viable, c.sysfs.viable, c.readiness.source]),
      [
        ['display function on vfio-pci, audio function on its host driver', false, false, 'kernel'],
        ['display function on vfio-pci, audio function with no driver', true, true, 'kernel'],
        ['both functions on vfio-pci (gpu-hookd detach)', true, true, 'kernel'],
      ],
    );
    const shared = checks[0];
    assert.deepEqual(shared.drivers, { [GPU]: VFIO_DRIVER, [AUDIO]: 'snd_hda_intel' });
    assert.equal(shared.sysfs.viable === false && shared.sysfs.culprit, AUDIO);
    assert.deepEqual(checks[1].drivers, { [GPU]: VFIO_DRIVER, [AUDIO]: null });
  });

  it('gpu-hookctl list --json takes readiness from the kernel and names the sibling on its host driver', () => {
    const list = nested().listWhileShared;
    assert.equal(list.exitCode, 0, list.stderr);
    const gpu = (JSON.parse(list.stdout) as ListReport).gpus.find((g) => g.address === GPU);
    assert.ok(gpu, `gpu-hookctl list shows no ${GPU}`);
    assert.equal(gpu.readyNowFrom, 'kernel');
    assert.equal(gpu.inUse, false);
    assert.equal(gpu.readyNow.viable === false && gpu.readyNow.culprit, AUDIO);
  });

  it('the probes by hand left the host exactly as it booted, before gpu-hookd took over', () => {
    assert.deepEqual(nested().afterProbes, nested().baseline);
  });

  it('attach while the VM holds the group is refused before any write, naming it, and the GPU stays on vfio-pci', () => {
    const { release, afterDetach } = nested();
    assert.deepEqual(release.holder.holders.map((h) => [h.pid, h.comm]), [[release.holder.pid, 'qemu-system-x86']]);
    assert.deepEqual(release.kernelWhileHeld, { answer: 'busy' });
    const refused = release.attachWhileHeld;
    assert.equal(refused.ok, false);
    assert.equal(refused.error?.code, 'Busy');
    assert.ok(
      refused.error.message.includes(`device still in use by ${release.holder.pid}/qemu-system-x86`),
      refused.error.message,
    );
    assert.equal(refused.writes, 0);
    assert.deepEqual(release.whileHeld, afterDetach);
  });

  it('why: the unbind it refused blocks in the kernel; HostIO gives up in time and the event loop runs on', () => {
    const { blockedUnbind, holder } = nested().release;
    assert.equal(blockedUnbind.error?.name, 'HostTimeoutError', `the unbind did not block: ${JSON.stringify(blockedUnbind)}`);
    assert.ok(blockedUnbind.loopTicks > 0, 'no timer ran while the write waited');
    assert.deepEqual(blockedUnbind.holders.map((h) => h.pid), [holder.pid]);
  });

  it('once the VM has exited the kernel finishes that unbind by itself, and attach then succeeds', () => {
    const { release } = nested();
    // SIGTERM, as virsh destroy sends it: QEMU shuts down and exits 0.
    assert.equal(release.holderExit.exitCode, 0, release.holderExit.stderr);
    assert.deepEqual(release.afterHolderExit.pciDevices[AUDIO], { driver: null, override: VFIO_DRIVER });
    assert.deepEqual(release.afterHolderExit.pciDevices[GPU], { driver: VFIO_DRIVER, override: VFIO_DRIVER });
    assert.ok(release.retry.ok, `attach failed: ${release.retry.error?.message}`);
    assert.equal(release.retry.changed, true);
  });
});
