// Each behaviour in docs/kernel-facts.md, replayed on the simulated host with the same write
// sequences the lab's guest ran; the expected states are what the real 6.1 kernel showed there.

import assert from 'node:assert/strict';
import { HostIO, HostTimeoutError, HostWriteError } from '../../../src/host/host-io';
import { parseScenario } from '../../../src/sim/scenario-parse';
import { loadScenario } from '../../../src/sim/scenarios';
import { createSimHost, SimHost } from '../../../src/sim/sim-host';
import { holdGroup, releaseGroup } from '../../../src/sim/faults';
import { snapshotHost } from '../../../src/sim/snapshot';
import { SimHostIO } from '../../../src/sim/sim-host-io';
import { adoptProcess, signalSimProcess } from '../../../src/sim/sim-processes';
import { processesHolding, vfioGroupHolders } from '../../../src/host/file-holders';
import { consoleDump, ovmfEfifb, pciDump, seabiosBochs } from './lab-guest';

const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const FUNCS = [GPU, AUDIO];

const driverOf = (io: HostIO, a: string) => io.readLinkName(`sys/bus/pci/devices/${a}/driver`) ?? 'none';

/** Waits (bounded) until `check` holds; probes that the kernel runs asynchronously need it. */
async function eventually(what: string, check: () => boolean, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function expectErrno(work: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(work, (e: unknown) => e instanceof HostWriteError && e.code === code);
}

function fbconVtcon(io: HostIO): string | undefined {
  return io.list('sys/class/vtconsole').find((v) => io.readText(`sys/class/vtconsole/${v}/name`)?.includes('frame buffer'));
}

/** /init's "MOVE TO vfio-pci": fbcon off, firmware framebuffer off, then per function override, unbind, probe. */
async function moveToVfio(io: HostIO): Promise<void> {
  const vtc = fbconVtcon(io);
  if (vtc && io.readText(`sys/class/vtconsole/${vtc}/bind`) === '1') await io.write(`sys/class/vtconsole/${vtc}/bind`, '0\n');
  if (io.exists('sys/bus/platform/drivers/efi-framebuffer/efi-framebuffer.0')) {
    await io.write('sys/bus/platform/drivers/efi-framebuffer/unbind', 'efi-framebuffer.0\n');
  }
  for (const f of FUNCS) {
    const bound = driverOf(io, f) !== 'none';
    await io.write(`sys/bus/pci/devices/${f}/driver_override`, 'vfio-pci\n');
    if (bound) await io.write(`sys/bus/pci/devices/${f}/driver/unbind`, `${f}\n`);
    await io.write('sys/bus/pci/drivers_probe', `${f}\n`);
  }
}

/** /init's "MOVE BACK": per function clear the override, unbind from vfio-pci, probe. */
async function moveBack(io: HostIO): Promise<void> {
  for (const f of FUNCS) {
    await io.write(`sys/bus/pci/devices/${f}/driver_override`, '\n');
    await io.write('sys/bus/pci/drivers/vfio-pci/unbind', `${f}\n`);
    await io.write('sys/bus/pci/drivers_probe', `${f}\n`);
  }
}

describe('the simulated kernel behaves as the lab\'s real 6.1 kernel did', function () {
  this.timeout(20_000);
  let host: SimHost;
  afterEach(async () => host?.dispose());

  describe('SeaBIOS guest with bochs-drm and fbcon (the lab\'s seabios-bochs boot)', () => {
    beforeEach(async () => {
      host = await createSimHost(parseScenario(seabiosBochs, 'seabios'));
    });

    it('starts in the BEFORE state: both functions in one identity group, fbcon on the GPU at vtcon0', () => {
      const { io } = host;
      assert.deepEqual(pciDump(io, FUNCS), [
        '0000:01:00.0 driver=bochs-drm group=3 override=(null)',
        '0000:01:00.1 driver=snd_hda_intel group=3 override=(null)',
      ]);
      assert.equal(io.readText('sys/kernel/iommu_groups/3/type'), 'identity');
      assert.deepEqual(io.list('sys/kernel/iommu_groups/3/devices'), FUNCS);
      assert.deepEqual(consoleDump(io), [
        'vtcon0 bind=1 name=(M) frame buffer device',
        'vtcon1 bind=0 name=(M) dummy device',
        '/proc/fb: 0 bochs-drmdrmfb;',
        'fb0 -> 0000:01:00.0',
        '/dev/dri: card0',
        'platform fb devices: ',
        '/dev/vfio: vfio',
      ]);
    });

    it('moves to vfio-pci: fbcon\'s vtconsole vanishes, no framebuffer, no /dev/dri, /dev/vfio/<group> appears', async () => {
      const { io } = host;
      await moveToVfio(io);
      assert.deepEqual(pciDump(io, FUNCS), [
        '0000:01:00.0 driver=vfio-pci group=3 override=vfio-pci',
        '0000:01:00.1 driver=vfio-pci group=3 override=vfio-pci',
      ]);
      assert.deepEqual(consoleDump(io), [
        'vtcon1 bind=1 name=(M) dummy device',
        '/proc/fb: ',
        '/dev/dri: absent',
        'platform fb devices: ',
        '/dev/vfio: 3 vfio',
      ]);
    });

    it('moves back: bochs-drm and snd_hda_intel return, fbcon comes back bound, and "echo 1 > bind" is a no-op', async () => {
      const { io } = host;
      await moveToVfio(io);
      await moveBack(io);
      assert.equal(io.readText(`sys/bus/pci/devices/${GPU}/driver_override`), '(null)', 'a newline clears the override');
      assert.equal(driverOf(io, GPU), 'bochs-drm');
      await eventually('snd_hda_intel binding again (it probes asynchronously)', () => driverOf(io, AUDIO) === 'snd_hda_intel');
      const vtc = fbconVtcon(io);
      assert.equal(vtc, 'vtcon0');
      assert.equal(io.readText(`sys/class/vtconsole/${vtc}/bind`), '1');
      await io.write(`sys/class/vtconsole/${vtc}/bind`, '1\n');
      assert.deepEqual(consoleDump(io), [
        'vtcon0 bind=1 name=(M) frame buffer device',
        'vtcon1 bind=0 name=(M) dummy device',
        '/proc/fb: 0 bochs-drmdrmfb;',
        'fb0 -> 0000:01:00.0',
        '/dev/dri: card0',
        'platform fb devices: ',
        '/dev/vfio: vfio',
      ]);
    });

    it('unbinding fbcon hands the console to the dummy device', async () => {
      const { io } = host;
      await io.write('sys/class/vtconsole/vtcon0/bind', '0\n');
      assert.deepEqual(consoleDump(io).slice(0, 2), ['vtcon0 bind=0 name=(M) frame buffer device', 'vtcon1 bind=1 name=(M) dummy device']);
    });

    it('/dev/vfio/<group> exists as soon as one function is on vfio-pci, and goes with the last', async () => {
      const { io } = host;
      await io.write(`sys/bus/pci/devices/${AUDIO}/driver_override`, 'vfio-pci');
      await io.write(`sys/bus/pci/devices/${AUDIO}/driver/unbind`, AUDIO);
      await io.write('sys/bus/pci/drivers_probe', AUDIO);
      assert.equal(driverOf(io, GPU), 'bochs-drm');
      assert.ok(io.exists('dev/vfio/3'));
      await io.write('sys/bus/pci/drivers/vfio-pci/unbind', AUDIO);
      assert.ok(!io.exists('dev/vfio/3'));
    });

    it('writing an unknown device to drivers/vfio-pci/bind fails with ENODEV', async () => {
      await expectErrno(host.io.write('sys/bus/pci/drivers/vfio-pci/bind', '0000:99:00.0'), 'ENODEV');
    });

    it('snd_hda_intel probes asynchronously: its driver link appears after drivers_probe returns', async () => {
      const slow = parseScenario(
        { ...seabiosBochs, modules: [seabiosBochs.modules![0], { name: 'snd_hda_intel', drivers: [{ name: 'snd_hda_intel', ids: ['*:*:0403'], probeDelayMs: 1500 }] }] },
        'slow-hda',
      );
      await host.dispose();
      host = await createSimHost(slow);
      const { io } = host;
      await io.write(`sys/bus/pci/devices/${AUDIO}/driver/unbind`, AUDIO);
      await io.write('sys/bus/pci/drivers_probe', AUDIO);
      assert.equal(driverOf(io, AUDIO), 'none', 'the write returned before the probe finished');
      await eventually('the asynchronous probe binding snd_hda_intel', () => driverOf(io, AUDIO) === 'snd_hda_intel');
    });

    it('with zero delays every probe completes before the write returns', async () => {
      await host.dispose();
      host = await createSimHost(parseScenario(seabiosBochs, 'seabios'), { zeroDelays: true });
      const { io } = host;
      await io.write(`sys/bus/pci/devices/${AUDIO}/driver/unbind`, AUDIO);
      await io.write('sys/bus/pci/drivers_probe', AUDIO);
      assert.equal(driverOf(io, AUDIO), 'snd_hda_intel');
    });
  });

  describe('OVMF guest with efifb on the boot VGA and no DRM driver (the lab\'s ovmf-efifb boot)', () => {
    beforeEach(async () => {
      host = await createSimHost(parseScenario(ovmfEfifb, 'ovmf'));
    });

    it('starts with efifb scanning out (fb0 "EFI VGA") and fbcon at vtcon1', () => {
      assert.deepEqual(consoleDump(host.io), [
        'vtcon0 bind=0 name=(S) dummy device',
        'vtcon1 bind=1 name=(M) frame buffer device',
        '/proc/fb: 0 EFI VGA;',
        'fb0 -> efi-framebuffer.0',
        '/dev/dri: absent',
        'platform fb devices: efi-framebuffer.0',
        '/dev/vfio: vfio',
      ]);
      assert.deepEqual(host.io.list('sys/bus/platform/drivers/efi-framebuffer'), ['bind', 'efi-framebuffer.0', 'uevent', 'unbind']);
    });

    it('vfio-pci binding the boot VGA removes efi-framebuffer.0; rebinding efifb then fails with ENODEV', async () => {
      const { io } = host;
      await moveToVfio(io);
      assert.deepEqual(consoleDump(io), [
        'vtcon0 bind=1 name=(S) dummy device',
        '/proc/fb: ',
        '/dev/dri: absent',
        'platform fb devices: ',
        '/dev/vfio: 3 vfio',
      ]);
      assert.deepEqual(io.list('sys/bus/platform/drivers/efi-framebuffer'), ['bind', 'uevent', 'unbind']);
      await moveBack(io);
      assert.equal(driverOf(io, GPU), 'none');
      await expectErrno(io.write('sys/bus/platform/drivers/efi-framebuffer/bind', 'efi-framebuffer.0'), 'ENODEV');
      assert.equal(fbconVtcon(io), undefined, 'no framebuffer is left, so fbcon has no vtconsole');
    });

    it('even a bound efifb goes when vfio-pci takes the boot VGA, and fbcon with it', async () => {
      const { io } = host;
      await io.write(`sys/bus/pci/devices/${GPU}/driver_override`, 'vfio-pci');
      await io.write('sys/bus/pci/drivers_probe', GPU);
      assert.deepEqual(consoleDump(io).slice(0, 3), ['vtcon0 bind=1 name=(S) dummy device', '/proc/fb: ', '/dev/dri: absent']);
    });
  });

  describe('a DRM driver claiming the boot VGA (aperture_remove_conflicting_pci_devices, sysfb disabled)', () => {
    it('removes efi-framebuffer.0 even when efifb was unbound from it first', async () => {
      host = await createSimHost(parseScenario(ovmfEfifb, 'ovmf'), { zeroDelays: true });
      const { io } = host;
      await io.write('sys/bus/platform/drivers/efi-framebuffer/unbind', 'efi-framebuffer.0');
      assert.deepEqual(snapshotHost(io).platformFramebuffers, [{ device: 'efi-framebuffer.0', driver: null }]);
      await io.loadModule('bochs');
      assert.equal(driverOf(io, GPU), 'bochs-drm');
      assert.deepEqual(snapshotHost(io).platformFramebuffers, []);
      await expectErrno(io.write('sys/bus/platform/drivers/efi-framebuffer/bind', 'efi-framebuffer.0'), 'ENODEV');
    });

    it('leaves it when the driver does not kick firmware framebuffers out (the proprietary nvidia driver)', async () => {
      const modules = ovmfEfifb.modules?.map((m) => (m.name === 'bochs' ? { ...m, drivers: m.drivers?.map((d) => ({ ...d, drm: { ...d.drm, removesFirmwareFb: false } })) } : m));
      host = await createSimHost(parseScenario({ ...ovmfEfifb, modules }, 'ovmf-nvidia-like'), { zeroDelays: true });
      await host.io.loadModule('bochs');
      assert.equal(driverOf(host.io, GPU), 'bochs-drm');
      assert.deepEqual(snapshotHost(host.io).platformFramebuffers, [{ device: 'efi-framebuffer.0', driver: 'efi-framebuffer' }]);
    });
  });

  describe('a group held by a VM (docs/kernel-facts.md, docs/lab.md "Nested passthrough")', () => {
    const override = (io: HostIO, a: string) => io.readText(`sys/bus/pci/devices/${a}/driver_override`);

    beforeEach(async () => {
      host = await createSimHost(loadScenario('seed'), { zeroDelays: true });
      for (const f of ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3']) {
        await host.io.write(`sys/bus/pci/devices/${f}/driver_override`, 'vfio-pci');
        await host.io.write(`sys/bus/pci/devices/${f}/driver/unbind`, f);
        await host.io.write('sys/bus/pci/drivers_probe', f);
      }
    });

    it('binding a host driver to a member fails with EBUSY while the group is owned', async () => {
      const { io } = host;
      await io.write(`sys/bus/pci/devices/${AUDIO}/driver_override`, '\n');
      await io.write('sys/bus/pci/drivers/vfio-pci/unbind', AUDIO);
      holdGroup(host.root, 13);
      await expectErrno(io.write('sys/bus/pci/drivers/snd_hda_intel/bind', AUDIO), 'EBUSY');
      await expectErrno(io.write('sys/bus/pci/drivers_probe', AUDIO), 'EBUSY');
      assert.equal(driverOf(io, AUDIO), 'none');
      releaseGroup(host.root, 13);
      await io.write('sys/bus/pci/drivers_probe', AUDIO);
      assert.equal(driverOf(io, AUDIO), 'snd_hda_intel');
    });

    it('an unbind from vfio-pci blocks with the driver link already gone, and completes when the holder lets go, though its writer gave up', async () => {
      const { io } = host;
      holdGroup(host.root, 13);
      const writer = new SimHostIO(host.root);
      await assert.rejects(writer.write('sys/bus/pci/drivers/vfio-pci/unbind', AUDIO, { timeoutMs: 100 }), HostTimeoutError);
      writer.dispose();
      assert.equal(driverOf(io, AUDIO), 'none', 'the driver links go before vfio waits for the holder');
      assert.equal(io.exists(`sys/bus/pci/drivers/vfio-pci/${AUDIO}`), false);
      assert.deepEqual(io.list('dev/vfio'), ['13', 'vfio']);
      await expectErrno(io.write(`sys/bus/pci/devices/${AUDIO}/driver/unbind`, AUDIO), 'ENOENT');
      // The device's lock is held: clearing the override waits too, and lands once the unbind is done
      // (reading it would wait as well, so nothing reads it before releaseGroup).
      const clearing = io.write(`sys/bus/pci/devices/${AUDIO}/driver_override`, '\n', { timeoutMs: 100 });
      await assert.rejects(clearing, HostTimeoutError);

      releaseGroup(host.root, 13);
      await eventually('the waiting override write landing after the unbind', () => override(io, AUDIO) === '(null)');
      assert.equal(driverOf(io, AUDIO), 'none', 'the kernel finished the unbind by itself');
      await io.write('sys/bus/pci/drivers_probe', AUDIO);
      assert.equal(driverOf(io, AUDIO), 'snd_hda_intel', 'the function was really unbound: a host driver takes it');
      assert.deepEqual(io.list('dev/vfio'), ['13', 'vfio'], 'the other functions are still on vfio-pci');
    });

    it('a second unbind of the same function waits for the first and then succeeds', async () => {
      const { io } = host;
      holdGroup(host.root, 13);
      const first = io.write('sys/bus/pci/drivers/vfio-pci/unbind', GPU);
      const second = io.write('sys/bus/pci/drivers/vfio-pci/unbind', GPU);
      releaseGroup(host.root, 13);
      await Promise.all([first, second]);
      assert.equal(driverOf(io, GPU), 'none');
    });

    it('the holder is a process with /dev/vfio/<group> open, which holder scans find, until it lets go', () => {
      const { io } = host;
      holdGroup(host.root, 13);
      assert.deepEqual(vfioGroupHolders(io, '13'), [{ pid: 4242, comm: 'qemu-system-x86', files: ['/dev/vfio/13'] }]);
      releaseGroup(host.root, 13);
      assert.deepEqual(vfioGroupHolders(io, '13'), []);
      assert.equal(io.exists('proc/4242'), false, 'the made-up QEMU exited');

      holdGroup(host.root, 13, { pid: 1203 });
      assert.deepEqual(vfioGroupHolders(io, '13'), [{ pid: 1203, comm: 'pipewire', files: ['/dev/vfio/13'] }]);
      releaseGroup(host.root, 13);
      assert.deepEqual(vfioGroupHolders(io, '13'), []);
      assert.deepEqual(processesHolding(io, (f) => f.startsWith('/dev/snd/')).map((h) => h.pid), [1203], 'the scenario process keeps its other files');
    });

    it('a holder that exits releases the group, and the waiting unbind completes', async () => {
      const { io } = host;
      holdGroup(host.root, 13, { pid: 2817, comm: 'qemu-system-x86' });
      const unbinding = io.write('sys/bus/pci/drivers/vfio-pci/unbind', GPU);
      assert.equal(driverOf(io, GPU), 'none');
      signalSimProcess(host.root, 2817, 'SIGTERM');
      await unbinding;
      assert.equal(driverOf(io, GPU), 'none');
      assert.deepEqual(vfioGroupHolders(io, '13'), []);
    });

    it('refuses a second holder, a group no one can open, a PID whose process has another name, and an adopted real process', async () => {
      holdGroup(host.root, 13);
      assert.throws(() => holdGroup(host.root, 13, { pid: 5000 }), /^Error: IOMMU group 13 is already held by 4242\/qemu-system-x86: the kernel lets one process open a group at a time/);
      assert.throws(() => holdGroup(host.root, 3), /^Error: nothing can hold IOMMU group 3: \/dev\/vfio\/3 does not exist/);
      assert.throws(() => holdGroup(host.root, 14, { pid: 812, comm: 'qemu-system-x86' }), /nothing can hold/);
      releaseGroup(host.root, 13);
      assert.throws(() => holdGroup(host.root, 13, { pid: 812, comm: 'qemu-system-x86' }), /^Error: process 812 of the simulated host is sddm, not qemu-system-x86/);
      adoptProcess(host.root, process.pid);
      assert.throws(() => holdGroup(host.root, 13, { pid: process.pid }), /is a real process adopted by the simulated host: let it open dev\/vfio\/13/);
      assert.deepEqual(vfioGroupHolders(host.io, '13'), []);
    });
  });

  describe('two framebuffers: the lab\'s fault guest, two bochs displays (docs/lab.md, faults)', () => {
    const SECOND = '0000:03:01.0';
    const consoles = (io: HostIO) => consoleDump(io).filter((l) => l.startsWith('vtcon') || l.startsWith('/proc/fb'));

    beforeEach(async () => {
      host = await createSimHost(loadScenario('lab-faults'), { zeroDelays: true });
    });

    it('starts with fbcon bound on fb0 (the boot VGA) and both displays as card0 and card1, no render nodes', () => {
      assert.deepEqual(consoles(host.io), [
        'vtcon0 bind=1 name=(M) frame buffer device',
        'vtcon1 bind=0 name=(M) dummy device',
        '/proc/fb: 0 bochs-drmdrmfb;1 bochs-drmdrmfb;',
      ]);
      assert.deepEqual(snapshotHost(host.io).dri, [
        { node: 'card0', device: GPU },
        { node: 'card1', device: SECOND },
      ]);
      assert.deepEqual(snapshotHost(host.io).fbconMap, [0]);
    });

    it('fbcon\'s framebuffer going while the other stays leaves fbcon registered but unbound, the dummy console bound', async () => {
      const { io } = host;
      await io.write(`sys/bus/pci/devices/${GPU}/driver/unbind`, GPU);
      assert.deepEqual(consoles(io), [
        'vtcon0 bind=0 name=(M) frame buffer device',
        'vtcon1 bind=1 name=(M) dummy device',
        '/proc/fb: 1 bochs-drmdrmfb;',
      ]);
      assert.deepEqual(snapshotHost(io).dri, [{ node: 'card1', device: SECOND }]);
      // The kernel maps the consoles to the framebuffer left, though fbcon is unbound.
      assert.deepEqual(snapshotHost(io).fbconMap, [1]);
    });

    it('when the framebuffer registers again fbcon takes over by itself, and "echo 1 > bind" is a no-op', async () => {
      const { io } = host;
      await io.write(`sys/bus/pci/devices/${GPU}/driver/unbind`, GPU);
      await io.write('sys/bus/pci/drivers_probe', GPU);
      const back = [
        'vtcon0 bind=1 name=(M) frame buffer device',
        'vtcon1 bind=0 name=(M) dummy device',
        '/proc/fb: 0 bochs-drmdrmfb;1 bochs-drmdrmfb;',
      ];
      assert.deepEqual(consoles(io), back);
      await io.write('sys/class/vtconsole/vtcon0/bind', '1\n');
      assert.deepEqual(consoles(io), back);
    });

    it('the other framebuffer going leaves fbcon bound; the last one going takes its vtconsole away', async () => {
      const { io } = host;
      await io.write(`sys/bus/pci/devices/${SECOND}/driver/unbind`, SECOND);
      assert.deepEqual(consoles(io), ['vtcon0 bind=1 name=(M) frame buffer device', 'vtcon1 bind=0 name=(M) dummy device', '/proc/fb: 0 bochs-drmdrmfb;']);
      await io.write(`sys/bus/pci/devices/${GPU}/driver/unbind`, GPU);
      assert.deepEqual(consoles(io), ['vtcon1 bind=1 name=(M) dummy device', '/proc/fb: ']);
      assert.equal(io.exists('dev/dri'), false);
    });
  });

  describe('fbcon\'s vtconsole number is not stable', () => {
    it('comes back at the lowest free number (amd: vtcon2 before, vtcon1 after)', async () => {
      host = await createSimHost(loadScenario('amd'), { zeroDelays: true });
      const { io } = host;
      const gpu = '0000:0c:00.0';
      assert.equal(fbconVtcon(io), 'vtcon2');
      await io.write(`sys/bus/pci/devices/${gpu}/driver/unbind`, gpu);
      assert.equal(fbconVtcon(io), undefined);
      assert.equal(io.readText('sys/class/vtconsole/vtcon0/bind'), '1');
      await io.write('sys/bus/pci/drivers_probe', gpu);
      assert.equal(fbconVtcon(io), 'vtcon1');
      assert.equal(io.readText('sys/class/vtconsole/vtcon1/bind'), '1');
      assert.equal(io.readText('sys/class/vtconsole/vtcon0/bind'), '0');
    });
  });
});
