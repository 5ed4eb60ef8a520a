// The kernel's rules for each writable attribute, one behaviour per test, on the seed host.

import assert from 'node:assert/strict';
import { HostIO, HostWriteError, ModuleError } from '../../../src/host/host-io';
import { loadScenario } from '../../../src/sim/scenarios';
import { createSimHost, SimHost } from '../../../src/sim/sim-host';
import { snapshotHost } from '../../../src/sim/snapshot';

const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const USB = '0000:01:00.2';
const dev = (a: string, attr: string) => `sys/bus/pci/devices/${a}/${attr}`;
const driverOf = (io: HostIO, a: string) => io.readLinkName(dev(a, 'driver')) ?? null;

async function expectErrno(work: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(work, (e: unknown) => {
    assert.ok(e instanceof HostWriteError, `expected HostWriteError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

describe('kernel emulator rules (seed host)', function () {
  this.timeout(20_000);
  let host: SimHost;
  let io: HostIO;
  beforeEach(async () => {
    host = await createSimHost(loadScenario('seed'), { zeroDelays: true });
    io = host.io;
  });
  afterEach(async () => host.dispose());

  describe('driver_override', () => {
    it('reads "(null)" when unset, stores a name without its newline, and clears on a newline or empty write', async () => {
      assert.equal(io.readText(dev(GPU, 'driver_override')), '(null)');
      await io.write(dev(GPU, 'driver_override'), 'vfio-pci\n');
      assert.equal(io.readText(dev(GPU, 'driver_override')), 'vfio-pci');
      await io.write(dev(GPU, 'driver_override'), '\n');
      assert.equal(io.readText(dev(GPU, 'driver_override')), '(null)');
      await io.write(dev(GPU, 'driver_override'), 'vfio-pci');
      await io.write(dev(GPU, 'driver_override'), '');
      assert.equal(io.readText(dev(GPU, 'driver_override')), '(null)');
    });

    it('changes no binding by itself', async () => {
      await io.write(dev(GPU, 'driver_override'), 'vfio-pci');
      assert.equal(driverOf(io, GPU), 'nouveau');
    });

    it('is also reachable through the device\'s sys/devices path', async () => {
      await io.write(`sys/devices/pci0000:00/0000:00:01.0/${GPU}/driver_override`, 'vfio-pci');
      assert.equal(io.readText(dev(GPU, 'driver_override')), 'vfio-pci');
    });
  });

  describe('bind and unbind', () => {
    it('unbind of a device bound to another driver fails with ENODEV', async () => {
      await expectErrno(io.write('sys/bus/pci/drivers/vfio-pci/unbind', GPU), 'ENODEV');
      assert.equal(driverOf(io, GPU), 'nouveau');
    });

    it('bind of an already bound device fails with EBUSY', async () => {
      await expectErrno(io.write('sys/bus/pci/drivers/nouveau/bind', GPU), 'EBUSY');
    });

    it('bind is refused with ENODEV while driver_override names another driver', async () => {
      await io.write(dev(AUDIO, 'driver/unbind'), AUDIO);
      await io.write(dev(AUDIO, 'driver_override'), 'vfio-pci');
      await expectErrno(io.write('sys/bus/pci/drivers/snd_hda_intel/bind', AUDIO), 'ENODEV');
      await io.write('sys/bus/pci/drivers/vfio-pci/bind', AUDIO);
      assert.equal(driverOf(io, AUDIO), 'vfio-pci');
    });

    it('bind of a device outside the driver\'s id table fails with ENODEV', async () => {
      await io.write(dev(USB, 'driver/unbind'), USB);
      await expectErrno(io.write('sys/bus/pci/drivers/snd_hda_intel/bind', USB), 'ENODEV');
    });

    it('unbind through the device\'s driver link leaves both links gone', async () => {
      await io.write(dev(AUDIO, 'driver/unbind'), `${AUDIO}\n`);
      assert.equal(driverOf(io, AUDIO), null);
      assert.ok(!io.list('sys/bus/pci/drivers/snd_hda_intel').includes(AUDIO));
      assert.ok(io.list('sys/bus/pci/drivers/snd_hda_intel').includes('0000:00:1f.3'), 'the onboard audio keeps its driver');
    });

    it('writing driver/unbind of an unbound device fails with ENOENT (the driver link is gone)', async () => {
      await io.write(dev(AUDIO, 'driver/unbind'), AUDIO);
      await expectErrno(io.write(dev(AUDIO, 'driver/unbind'), AUDIO), 'ENOENT');
    });

    it('unbinding nouveau takes its DRM nodes and framebuffer; fbcon goes with the last framebuffer', async () => {
      await io.write(dev(GPU, 'driver/unbind'), GPU);
      const s = snapshotHost(io);
      assert.deepEqual(s.drm, []);
      assert.deepEqual(s.framebuffers, []);
      assert.deepEqual(s.vtconsoles, [{ name: '(S) dummy device', bind: true }]);
      await io.write('sys/bus/pci/drivers/nouveau/bind', GPU);
      assert.deepEqual(snapshotHost(io).drm, [`pci-${GPU}-card`, `pci-${GPU}-render`]);
    });
  });

  describe('drivers_probe', () => {
    it('binds the override driver when set', async () => {
      await io.write(dev(USB, 'driver_override'), 'vfio-pci');
      await io.write(dev(USB, 'driver/unbind'), USB);
      await io.write('sys/bus/pci/drivers_probe', USB);
      assert.equal(driverOf(io, USB), 'vfio-pci');
    });

    it('binds the first registered driver whose table matches when no override is set', async () => {
      await io.write(dev(USB, 'driver/unbind'), USB);
      await io.write('sys/bus/pci/drivers_probe', USB);
      assert.equal(driverOf(io, USB), 'xhci_hcd');
    });

    it('succeeds and leaves the device unbound when no loaded driver may take it', async () => {
      await io.write(dev(USB, 'driver_override'), 'no-such-driver');
      await io.write(dev(USB, 'driver/unbind'), USB);
      await io.write('sys/bus/pci/drivers_probe', USB);
      assert.equal(driverOf(io, USB), null);
    });

    it('fails with ENODEV for an unknown device', async () => {
      await expectErrno(io.write('sys/bus/pci/drivers_probe', '0000:99:00.0'), 'ENODEV');
    });

    it('leaves a bound device as it is', async () => {
      await io.write(dev(GPU, 'driver_override'), 'vfio-pci');
      await io.write('sys/bus/pci/drivers_probe', GPU);
      assert.equal(driverOf(io, GPU), 'nouveau');
    });

    it('never binds vfio-pci to a bridge', async () => {
      await io.write(dev('0000:00:01.0', 'driver_override'), 'vfio-pci');
      await io.write(dev('0000:00:01.0', 'driver/unbind'), '0000:00:01.0');
      await io.write('sys/bus/pci/drivers_probe', '0000:00:01.0');
      assert.equal(driverOf(io, '0000:00:01.0'), null);
    });
  });

  describe('new_id and remove_id', () => {
    it('new_id makes vfio-pci claim matching unbound devices at once, and only those', async () => {
      await io.write(dev(AUDIO, 'driver/unbind'), AUDIO);
      await io.write('sys/bus/pci/drivers/vfio-pci/new_id', '10de 10f9\n');
      assert.equal(driverOf(io, AUDIO), 'vfio-pci');
      assert.equal(driverOf(io, GPU), 'nouveau', 'bound devices are not taken');
      await expectErrno(io.write('sys/bus/pci/drivers/vfio-pci/new_id', '10de 10f9'), 'EEXIST');
    });

    it('new_id respects another driver\'s override, and refuses malformed ids with EINVAL', async () => {
      await io.write(dev(AUDIO, 'driver/unbind'), AUDIO);
      await io.write(dev(AUDIO, 'driver_override'), 'snd_hda_intel');
      await io.write('sys/bus/pci/drivers/vfio-pci/new_id', '10de 10f9');
      assert.equal(driverOf(io, AUDIO), null);
      await expectErrno(io.write('sys/bus/pci/drivers/vfio-pci/new_id', '10de'), 'EINVAL');
    });

    it('remove_id forgets the id without unbinding; an unknown id is ENODEV', async () => {
      await io.write(dev(AUDIO, 'driver/unbind'), AUDIO);
      await io.write('sys/bus/pci/drivers/vfio-pci/new_id', '10de 10f9');
      await io.write('sys/bus/pci/drivers/vfio-pci/remove_id', '10de 10f9');
      assert.equal(driverOf(io, AUDIO), 'vfio-pci');
      await io.write('sys/bus/pci/drivers/vfio-pci/unbind', AUDIO);
      await io.write('sys/bus/pci/drivers_probe', AUDIO);
      assert.equal(driverOf(io, AUDIO), 'snd_hda_intel', 'without the dynamic id, the static tables decide again');
      await expectErrno(io.write('sys/bus/pci/drivers/vfio-pci/remove_id', '10de 10f9'), 'ENODEV');
    });

    it('new_id on a driver\'s own static id is EEXIST', async () => {
      await expectErrno(io.write('sys/bus/pci/drivers/nvidia-gpu/new_id', '10de 1adb'), 'EEXIST');
    });
  });

  describe('modules', () => {
    it('refuses to unload a module whose driver is bound, or that other modules hold', async () => {
      await assert.rejects(io.unloadModule('snd_hda_intel'), (e: unknown) => e instanceof ModuleError && e.code === 'EBUSY' && /0000:00:1f\.3/.test(e.message));
      await assert.rejects(io.unloadModule('drm'), (e: unknown) => e instanceof ModuleError && /in use by: .*nouveau/.test(e.message));
      await assert.rejects(io.unloadModule('pcieport'), (e: unknown) => e instanceof ModuleError && /builtin/.test(e.message));
      await assert.rejects(io.loadModule('no_such_module'), (e: unknown) => e instanceof ModuleError && e.code === 'ENOENT');
    });

    it('unloading drops the driver and proc/modules line; loading again probes the devices it matches', async () => {
      await io.write(dev(GPU, 'driver/unbind'), GPU);
      await io.unloadModule('nouveau');
      assert.ok(!io.exists('sys/bus/pci/drivers/nouveau'));
      assert.ok(!io.exists('sys/module/nouveau'));
      assert.ok(!snapshotHost(io).modules.includes('nouveau'));
      assert.ok(!snapshotHost(io).modules.includes('ttm'), 'modprobe -r also removes dependencies left unused');
      await io.loadModule('nouveau');
      assert.equal(driverOf(io, GPU), 'nouveau');
      assert.equal(io.readLink('sys/bus/pci/drivers/nouveau/module'), '../../../../module/nouveau');
      assert.ok(io.list('sys/module/drm/holders').includes('nouveau'));
    });

    it('a driver registering respects driver_override of unbound devices', async () => {
      await io.write(dev(GPU, 'driver_override'), 'vfio-pci');
      await io.write(dev(GPU, 'driver/unbind'), GPU);
      await io.unloadModule('nouveau');
      await io.loadModule('nouveau');
      assert.equal(driverOf(io, GPU), null);
    });

    it('loading vfio-pci on the amd host (vfio absent at boot) creates /dev/vfio/vfio and the driver', async () => {
      await host.dispose();
      host = await createSimHost(loadScenario('amd'), { zeroDelays: true });
      io = host.io;
      assert.ok(!io.exists('dev/vfio/vfio'));
      assert.ok(!io.exists('sys/bus/pci/drivers/vfio-pci'));
      await io.loadModule('vfio-pci');
      assert.ok(io.exists('dev/vfio/vfio'));
      assert.ok(io.exists('sys/bus/pci/drivers/vfio-pci/bind'));
      assert.deepEqual(
        snapshotHost(io).modules.filter((m) => m.startsWith('vfio')),
        ['vfio', 'vfio_iommu_type1', 'vfio_pci', 'vfio_pci_core'],
      );
      assert.match(io.readText('proc/modules') ?? '', /^vfio_pci \d+ 0 - Live/m);
    });
  });

  describe('other attributes', () => {
    it('read-only attributes are EACCES and missing ones ENOENT, as sysfs answers root', async () => {
      await expectErrno(io.write(dev(GPU, 'vendor'), '0x10de'), 'EACCES');
      await expectErrno(io.write(dev(GPU, 'no_such_attribute'), '1'), 'ENOENT');
      await expectErrno(io.write('sys/bus/pci/drivers/no-such-driver/bind', GPU), 'ENOENT');
    });

    it('cpu hotplug, cpufreq governors and IRQ affinity accept what the kernel accepts', async () => {
      await io.write('sys/devices/system/cpu/cpu3/online', '0');
      assert.equal(io.readText('sys/devices/system/cpu/online'), '0-2,4-15');
      assert.ok(!io.exists('sys/devices/system/cpu/cpu3/topology'));
      await io.write('sys/devices/system/cpu/cpu3/online', '1');
      assert.equal(io.readText('sys/devices/system/cpu/cpu3/topology/thread_siblings_list'), '3,11');
      await expectErrno(io.write('sys/devices/system/cpu/cpu0/online', '0'), 'ENOENT');
      await io.write('sys/devices/system/cpu/cpu5/cpufreq/scaling_governor', 'performance');
      assert.equal(io.readText('sys/devices/system/cpu/cpu5/cpufreq/scaling_governor'), 'performance');
      await expectErrno(io.write('sys/devices/system/cpu/cpu5/cpufreq/scaling_governor', 'turbo'), 'EINVAL');
      await io.write('proc/irq/142/smp_affinity_list', '0,8\n');
      assert.equal(io.readText('proc/irq/142/smp_affinity_list'), '0,8');
      await expectErrno(io.write('proc/irq/142/smp_affinity_list', '99'), 'EINVAL');
    });
  });
});
