// In the default lab tier (alone: npm run lab:libvirt): the whole story on one real kernel. Inside the lab
// guest libvirtd, virtlogd, a dbus-daemon and gpu-hookd run, our hook installed before libvirtd
// started. `virsh start` of a domain with both functions of the GPU-like card as <hostdev
// managed='no'> is refused while gpu-hookd is not running; once it runs, it binds them to vfio-pci,
// libvirt's QEMU takes them and the workload drives them; `virsh destroy` gives them back to
// bochs-drm and snd_hda_intel, and fbcon returns.

import assert from 'node:assert/strict';
import { VFIO_DRIVER } from '../../../src/host/pci-device';
import { fbconOf, LAB_SETUP_TIMEOUT_MS } from '../lab-tier';
import type { LibvirtResult } from './libvirt-job';
import { bootLibvirtInGuest, LIBVIRT_BOOT_TIMEOUT_MS, LIBVIRT_JOB } from './libvirt-scenario';

const { gpu: GPU, audio: AUDIO } = LIBVIRT_JOB;
/** QEMU's generic HDA codec: vendor 1af4 (Red Hat), device 0012. */
const QEMU_HDA_CODEC = '1af40012';

describe('lab (real kernel): libvirt in the guest starts a VM with the GPU through gpu-hookd and gives it back', () => {
  let boot: Awaited<ReturnType<typeof bootLibvirtInGuest>> | undefined;
  before(async function () {
    this.timeout(LAB_SETUP_TIMEOUT_MS + LIBVIRT_BOOT_TIMEOUT_MS);
    boot = await bootLibvirtInGuest();
    const r = boot.result.libvirt;
    // The cost, for docs/lab.md: printed on every run.
    console.log(
      `    cost: sysroot ${(boot.sysroot.bytes / 2 ** 20).toFixed(0)} MiB, boot to power-off ${(boot.wallMs / 1000).toFixed(1)} s, ` +
        `daemons ready (ms) ${JSON.stringify(r?.readyMs, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))}, ` +
        `virsh start ${r?.start?.ms.toFixed(0)} ms, workload result ${r?.workloadMs?.toFixed(0)} ms later, virsh destroy ${r?.destroy?.ms.toFixed(0)} ms`,
    );
  });
  const result = (): LibvirtResult => {
    assert.ok(boot?.result.libvirt, 'the libvirt-in-guest boot reported nothing');
    return boot.result.libvirt;
  };
  const logs = (): string => Object.entries(result().logs).map(([k, v]) => `--- ${k}\n${v}`).join('\n');

  it('virsh start before gpu-hookd runs fails closed: the hook refuses a domain that asks for the GPU, the host is untouched', () => {
    const r = result();
    assert.equal(r.define.exitCode, 0, `virsh define failed: ${r.define.stderr}`);
    assert.ok(r.startWithoutDaemon, 'virsh start was not tried before gpu-hookd started');
    assert.equal(r.startWithoutDaemon.exitCode, 1, `virsh start without gpu-hookd: ${r.startWithoutDaemon.stderr}\n${logs()}`);
    assert.match(r.startWithoutDaemon.stderr, /gpu-hookd is not running: start it \(systemctl start gpu-hookd\) and start lab-vm again; it asks for a GPU/);
    assert.deepEqual(r.withoutDaemon, r.baseline);
  });

  it('virsh start succeeds: the prepare hook had gpu-hookd move both functions to vfio-pci', () => {
    const r = result();
    assert.equal(r.start?.exitCode, 0, `virsh start failed: ${r.start?.stderr}\n${logs()}`);
    assert.ok(r.whileRunning, 'no snapshot while the VM ran');
    assert.deepEqual(r.whileRunning.pciDevices[GPU], { driver: VFIO_DRIVER, override: VFIO_DRIVER });
    assert.deepEqual(r.whileRunning.pciDevices[AUDIO], { driver: VFIO_DRIVER, override: VFIO_DRIVER });
    assert.equal(fbconOf(r.whileRunning), undefined, 'fbcon still registered while the VM has the GPU');
  });

  it("libvirt's QEMU took both functions: the workload in the VM did MMIO on the display and DMA on the audio function", () => {
    const { workload, serial } = result();
    assert.ok(workload, `the workload printed no result:\n${serial}\n${logs()}`);
    assert.equal(workload.vga.found && workload.hda.found, true, `the VM does not see both functions: ${JSON.stringify(workload.devices)}`);
    assert.match(workload.vga.vbeId, /^b0c[0-5]$/);
    assert.equal(workload.vga.framebufferReadback, '5a17c0de');
    assert.equal(workload.hda.dma, true);
    assert.equal(workload.hda.codecVendor, QEMU_HDA_CODEC);
    assert.equal(workload.ok, true);
  });

  it('virsh destroy: the release hook gave the card back to bochs-drm and snd_hda_intel, fbcon is back, the host is as it booted', () => {
    const r = result();
    assert.equal(r.destroy?.exitCode, 0, `virsh destroy failed: ${r.destroy?.stderr}`);
    assert.ok(r.afterRelease, 'no snapshot after release');
    assert.deepEqual(fbconOf(r.afterRelease), { name: '(M) frame buffer device', bind: true });
    assert.deepEqual(r.afterRelease, r.baseline);
  });
});
