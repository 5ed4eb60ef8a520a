// The problems users of hand-written single-GPU hook scripts report on public trackers, each
// reproduced on a simulated host with the systemd and logind stand-ins, and answered.

import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/engine-error';
import type { StepSpec } from '../../../src/engine/step-spec';
import { builtinStepRegistry } from '../../../src/engine/steps/builtin-steps';
import { DEFAULT_TIMEOUTS, silentLog } from '../../../src/engine/step-executor';
import { findVtconsole, listFramebuffers } from '../../../src/host/consoles';
import { isModuleLoaded } from '../../../src/host/modules';
import { parseScenario } from '../../../src/sim/scenario-parse';
import labOvmfEfifb from '../../../src/sim/scenarios/lab-ovmf-efifb';
import { faultCounts, injectFault } from '../../../src/sim/faults';
import { snapshotHost } from '../../../src/sim/snapshot';
import { assertHostRestored } from '../../integration/engine/sim-engine';
import { DM_UNIT } from '../../../src/sim/desktop/simulated-desktop';
import { driversOf, FBCON, GPU, handoverSuite, HOST_DRIVERS, SETTINGS, simProcessRuns } from './handover-host';
import { NVIDIA_DESKTOP, NVIDIA_HOST_DRIVERS, nvidiaDesktop } from './nvidia-desktop';

const registry = builtinStepRegistry();

describe('known problems of single-GPU passthrough, answered', function () {
  this.timeout(30_000);
  const suite = handoverSuite();


  describe('black screen on return', () => {
    it('binds the GPU\'s own driver and verifies it before the console, and the console before the display manager', async () => {
      const host = await suite.host();
      await host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS });
      const attach = await host.engine.attach(GPU);
      const order = attach.steps.map((s) => s.description);
      const nouveauBack = order.indexOf(`probe ${GPU} for nouveau`);
      assert.ok(nouveauBack >= 0 && nouveauBack < order.indexOf(`bind vtconsole "${FBCON}"`), order.join(' | '));
      assert.equal(order[order.length - 1], 'start display-manager.service');
      assert.deepEqual(listFramebuffers(host.sim.io).map((f) => [f.name, f.device]), [['nouveaudrmfb', GPU]]);
      assert.equal(findVtconsole(host.sim.io, FBCON)?.bound, true);
    });

    it('does not start the display manager on a GPU whose driver did not come back, and says which driver failed', async () => {
      const host = await suite.host();
      await host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS });
      host.desktop.systemd.clearCalls();
      injectFault(host.sim.root, { path: 'sys/bus/pci/drivers_probe', value: GPU, effect: { kind: 'no-bind', driver: 'nouveau' } });
      await assert.rejects(
        host.engine.attach(GPU),
        new RegExp(`attach of ${GPU} failed: ${GPU} did not come back to nouveau \\('probe ${GPU} for nouveau': ${GPU} is unbound instead of nouveau .* resets were tried`),
      );
      assert.deepEqual(await host.desktop.systemd.calls('StartUnit'), []);
      assert.equal(driversOf(host)[0], 'vfio-pci', 'rolled back: still on vfio-pci, recorded for the next attach');
      assert.ok(host.engine.ledger.load(GPU)?.handover);
    });
  });

  describe('a display manager that will not start again', () => {
    it('keeps the GPU with the host and says plainly that the desktop did not come back', async () => {
      const host = await suite.host({ desktop: { dm: { start: 'failed' } } });
      await host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS });
      const attach = await host.engine.attach(GPU);
      assert.deepEqual(driversOf(host), HOST_DRIVERS);
      assert.equal(findVtconsole(host.sim.io, FBCON)?.bound, true, 'the text console is back to log in on');
      assert.equal(
        attach.steps[attach.steps.length - 1].note,
        `systemd's start job for display-manager.service ended with result "failed", so the desktop did not come back although the GPU did: ` +
          `see "systemctl status display-manager.service" for why`,
      );
      assert.equal(host.engine.ledger.load(GPU), undefined);
    });
  });

  describe('"module nvidia_drm is in use"', () => {
    it('stops the display manager and nvidia-persistenced, then unloads nvidia_drm, nvidia_modeset, nvidia_uvm before the group and nvidia after it', async () => {
      const host = await suite.host({ scenario: nvidiaDesktop(), desktop: NVIDIA_DESKTOP });
      const before = snapshotHost(host.sim.io);
      const detach = await host.engine.detach(GPU, { owner: 'win10', handover: { ...SETTINGS, unloadModules: true } });
      const order = detach.steps.map((s) => s.description);
      assert.deepEqual(order.slice(0, 6), [
        'stop display-manager.service',
        'stop nvidia-persistenced.service',
        `check that no process holds ${GPU}`,
        `unbind vtconsole "${FBCON}"`,
        'unbind efi-framebuffer.0 from efi-framebuffer',
        'unload kernel modules nvidia_drm, nvidia_modeset, nvidia_uvm',
      ]);
      assert.equal(order[6], `set driver_override of ${GPU} to vfio-pci`);
      assert.equal(order[order.length - 1], 'unload kernel module nvidia');
      for (const m of ['nvidia', 'nvidia_drm', 'nvidia_modeset', 'nvidia_uvm']) assert.equal(isModuleLoaded(host.sim.io, m), false, m);

      const attach = await host.engine.attach(GPU);
      assert.deepEqual(driversOf(host), NVIDIA_HOST_DRIVERS);
      assert.equal(simProcessRuns(host, 700), true, 'nvidia-persistenced runs again');
      const notes = attach.steps.filter((s) => s.note).map((s) => s.note ?? '');
      assert.equal(notes.length, 2, notes.join(' | '));
      assert.match(notes[0], /^the kernel removed efi-framebuffer\.0 when 0000:01:00\.0 went to vfio-pci/);
      assert.match(notes[1], /^vtconsole "\(M\) frame buffer device" is not there to bind: no framebuffer is registered/);
      assertHostRestored({ ...snapshotHost(host.sim.io), vtconsoles: before.vtconsoles, framebuffers: before.framebuffers, fbconMap: before.fbconMap }, before);
    });

    it('refuses a CUDA process that keeps the stack busy, naming it and its PID, before unloading anything', async () => {
      const cuda = { pid: 2001, comm: 'python3', cmdline: ['python3', 'train.py'], fds: ['/dev/nvidiactl', '/dev/nvidia-uvm'] };
      const host = await suite.host({ scenario: nvidiaDesktop([cuda]), desktop: NVIDIA_DESKTOP });
      await assert.rejects(host.engine.detach(GPU, { owner: 'win10', handover: { ...SETTINGS, unloadModules: true } }), (e: unknown) => {
        assert.ok(e instanceof EngineError);
        assert.equal(e.code, 'Busy');
        assert.match(e.message, /: python3 \(PID 2001\) holds \/dev\/nvidia-uvm, \/dev\/nvidiactl; the host was restored/);
        return true;
      });
      for (const m of ['nvidia', 'nvidia_drm', 'nvidia_modeset', 'nvidia_uvm']) assert.equal(isModuleLoaded(host.sim.io, m), true, m);
      assert.equal((await host.desktop.systemd.unit('nvidia-persistenced.service')).activeState, 'active');
    });
  });

  describe('libvirtd stuck on an unbind that never returns', () => {
    it('gives up after the write timeout and gives the desktop back instead of hanging the hook', async () => {
      const host = await suite.host({ timeouts: { writeMs: 300 } });
      injectFault(host.sim.root, { path: 'sys/bus/pci/drivers/nouveau/unbind', effect: { kind: 'block' } });
      await assert.rejects(host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS }), (e: unknown) => {
        assert.ok(e instanceof EngineError);
        assert.equal(e.code, 'Timeout');
        assert.match(e.message, /failed at 'unbind 0000:01:00\.0 from nouveau': writing "0000:01:00\.0" to .* did not return within 300 ms/);
        return true;
      });
      assert.equal((await host.desktop.systemd.unit(DM_UNIT)).activeState, 'active');
      assert.equal(findVtconsole(host.sim.io, FBCON)?.bound, true);
      assert.deepEqual(driversOf(host), HOST_DRIVERS);
    });
  });

  describe('efifb or simpledrm holding the boot VGA\'s memory', () => {
    for (const kind of ['efi-framebuffer', 'simple-framebuffer'] as const) {
      it(`unbinds ${kind}.0 before the first vfio-pci write, and says plainly on return that the kernel removed it`, async () => {
        const scenario = parseScenario({ ...structuredClone(labOvmfEfifb), name: `lab-ovmf-${kind}`, firmwareFramebuffer: { kind, state: 'bound-with-fb' } }, `lab-ovmf-${kind}`);
        const host = await suite.host({ scenario, desktop: { dmPids: [] } });
        const detach = await host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS });
        const order = detach.steps.map((s) => s.description);
        const firstVfio = order.findIndex((d) => d.includes('vfio-pci'));
        assert.ok(order.indexOf(`unbind ${kind}.0 from ${kind}`) < firstVfio, order.join(' | '));
        assert.deepEqual(host.sim.io.list('sys/bus/platform/devices').filter((d) => d.startsWith(kind)), [], 'vfio-pci took the aperture: the device is gone');

        const attach = await host.engine.attach(GPU);
        const fb = attach.steps.find((s) => s.description === `bind ${kind}.0 to ${kind}`);
        assert.equal(fb?.note, `the kernel removed ${kind}.0 when ${GPU} went to vfio-pci, so it cannot be bound again; the console comes back with the framebuffer of ${GPU}'s own driver`);
        assert.equal((await host.desktop.systemd.unit(DM_UNIT)).activeState, 'active');
      });
    }
  });

  describe('vtconsole numbers changing', () => {
    it('finds fbcon\'s console by name when it comes back under another number (amd: vtcon2, then vtcon1)', async () => {
      const host = await suite.host({ scenario: 'amd', desktop: { dmPids: [901, 1450] } });
      const amdGpu = '0000:0c:00.0';
      assert.equal(findVtconsole(host.sim.io, FBCON)?.index, 2);
      await host.engine.detach(amdGpu, { owner: 'win10', handover: SETTINGS });
      assert.equal(findVtconsole(host.sim.io, FBCON), undefined);
      const attach = await host.engine.attach(amdGpu);
      assert.deepEqual(findVtconsole(host.sim.io, FBCON), { index: 1, name: FBCON, bound: true });
      assert.ok(attach.steps.some((s) => s.description === `bind vtconsole "${FBCON}"` && !s.note));
    });
  });

  describe('"modprobe -r vfio-pci" in release breaking other VMs', () => {
    it('never unloads vfio: another VM\'s GPU stays on vfio-pci through a handover and its return', async () => {
      const host = await suite.host({ scenario: 'two-gpu' });
      const igpu = '0000:00:02.0';
      const rtx = '0000:01:00.0';
      await host.engine.detach(rtx, { owner: 'other-vm' });
      const unloads = injectFault(host.sim.root, { path: 'modprobe', value: '-r vfio*', nth: 1_000_000, effect: { kind: 'fail', errno: 'EIO' } });
      await host.engine.detach(igpu, { owner: 'win10', handover: { ...SETTINGS, unloadModules: true } });
      await host.engine.attach(igpu);
      assert.equal(faultCounts(host.sim.root).find((c) => c.id === unloads)?.matched, 0, 'no modprobe -r of a vfio module');
      assert.deepEqual(driversOf(host, [rtx, '0000:01:00.1']), ['vfio-pci', 'vfio-pci']);
      assert.ok(host.sim.io.exists('dev/vfio/16'));
      assert.deepEqual(driversOf(host, [igpu]), ['i915']);
    });

    it('refuses a step that would unload or load a vfio module', async () => {
      const host = await suite.host();
      const ctx = { io: host.sim.io, log: silentLog, timeouts: DEFAULT_TIMEOUTS };
      for (const spec of [
        { kind: 'unload-modules', modules: ['vfio_pci'] },
        { kind: 'load-modules', modules: ['nouveau', 'vfio-pci'] },
      ] as StepSpec[]) {
        await assert.rejects(registry.executorFor(spec).do(ctx, spec), /vfio modules stay loaded for every VM/);
      }
      assert.equal(isModuleLoaded(host.sim.io, 'vfio_pci'), true);
    });
  });
});

