// Resets as the simulated kernel offers them: reset_method and reset per function, the methods
// derived as the kernel derives them (and the same from config space on a kernel before 5.15),
// writes to reset, reset_method and a bridge's reset_subordinate, and functions a VM left wedged.

import assert from 'node:assert/strict';
import { HostIO, HostWriteError } from '../../../src/host/host-io';
import { listPciAddresses } from '../../../src/host/pci-discovery';
import { hasUsableReset, readFunctionResets, slotResetBridge, workingMethods } from '../../../src/host/pci-reset';
import { wedgeFunction } from '../../../src/sim/faults';
import type { Scenario } from '../../../src/sim/scenario';
import { builtinScenarioNames, loadScenario } from '../../../src/sim/scenarios';
import { createSimHost, SimHost } from '../../../src/sim/sim-host';

const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const NVME = '0000:02:00.0';
const ROOT_PORT = '0000:00:01.0';
const dev = (a: string, attr: string) => `sys/bus/pci/devices/${a}/${attr}`;
const driverOf = (io: HostIO, a: string) => io.readLinkName(dev(a, 'driver')) ?? null;

async function expectErrno(work: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(work, (e: unknown) => e instanceof HostWriteError && e.code === code);
}

/** The seed with its GPU's reset capabilities and the kernel release changed. */
function seedWith(release: string, gpuReset: Partial<Scenario['devices'][number]['reset']> = {}, audioReset = gpuReset): Scenario {
  const s = loadScenario('seed');
  return {
    ...s,
    kernel: { ...s.kernel, release },
    devices: s.devices.map((d) =>
      d.address === GPU ? { ...d, reset: { ...d.reset, ...gpuReset } } : d.address === AUDIO ? { ...d, reset: { ...d.reset, ...audioReset } } : d,
    ),
  };
}

describe('simulated resets', function () {
  this.timeout(30_000);
  const hosts: SimHost[] = [];
  const host = async (s: Scenario): Promise<HostIO> => {
    const h = await createSimHost(s, { zeroDelays: true });
    hosts.push(h);
    return h.io;
  };
  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.dispose();
  });

  it('lists the methods in the kernel\'s order: flr, pm, and bus for the first function on a bus below a bridge (as the lab\'s kernel lists it)', async () => {
    const io = await host(seedWith('6.1.0-sim', { flr: true }));
    assert.equal(io.readText(dev(GPU, 'reset_method')), 'flr pm bus', 'function 0 was alone on bus 01 when the kernel added it');
    assert.equal(io.readText(dev(AUDIO, 'reset_method')), 'flr pm');
    assert.equal(io.readText(dev(NVME, 'reset_method')), 'pm bus', 'the NVMe drive is alone on bus 02');
    assert.equal(io.readText(dev('0000:00:1f.3', 'reset_method')), 'pm', 'on the root bus: no bus reset');
    assert.deepEqual(readFunctionResets(io, GPU), { address: GPU, methods: ['flr', 'pm', 'bus'], source: 'kernel', resettable: true });
    assert.deepEqual(workingMethods(io, readFunctionResets(io, GPU)), ['flr', 'pm'], 'the bus is shared: a bus reset would fail');
  });

  it('a listed bus reset fails while the bus is shared: reset says ENOTTY when nothing else is enabled', async () => {
    const io = await host(seedWith('6.1.0-sim', { pm: false }));
    assert.equal(io.readText(dev(GPU, 'reset_method')), 'bus');
    await expectErrno(io.write(dev(GPU, 'reset'), '1'), 'ENOTTY');
  });

  it('a function with no method has neither reset nor reset_method, and reads as not resettable', async () => {
    const io = await host(seedWith('6.1.0-sim', { pm: false, flr: false, busReset: false }));
    assert.equal(io.exists(dev(GPU, 'reset')), false);
    assert.equal(io.exists(dev(GPU, 'reset_method')), false);
    const r = readFunctionResets(io, GPU);
    assert.deepEqual(r, { address: GPU, methods: [], source: 'kernel', resettable: false });
    assert.equal(hasUsableReset(r), false);
  });

  it('AMD VGA functions get no PM reset (the kernel\'s quirk), whatever their PM capability says', async () => {
    const io = await host(loadScenario('amd'));
    assert.equal(io.readText(dev('0000:0c:00.0', 'reset_method')), 'bus');
    assert.equal(io.readText(dev('0000:0c:00.1', 'reset_method')), 'pm');
  });

  for (const name of builtinScenarioNames()) {
    it(`${name}: config space read as root on a kernel before 5.15 gives the methods reset_method gives on 6.1`, async () => {
      const s = loadScenario(name);
      const modern = await host({ ...s, kernel: { ...s.kernel, release: '6.1.0-sim' } });
      const old = await host({ ...s, kernel: { ...s.kernel, release: '5.10.0-sim' } });
      for (const address of listPciAddresses(modern)) {
        const fromKernel = readFunctionResets(modern, address);
        const fromConfig = readFunctionResets(old, address);
        assert.equal(old.exists(dev(address, 'reset_method')), false);
        assert.equal(fromConfig.source, 'config-space');
        assert.deepEqual(fromConfig.methods, fromKernel.methods, address);
        assert.equal(fromConfig.resettable, fromKernel.resettable, address);
      }
    });
  }

  it('reset takes 1 and nothing else; reset_method can narrow, empty and restore the methods', async () => {
    const io = await host(seedWith('6.1.0-sim', { flr: true }));
    await io.write(dev(GPU, 'reset'), '1');
    await expectErrno(io.write(dev(GPU, 'reset'), '2'), 'EINVAL');
    await io.write(dev(GPU, 'reset_method'), 'pm');
    assert.equal(io.readText(dev(GPU, 'reset_method')), 'pm');
    await expectErrno(io.write(dev(GPU, 'reset_method'), 'af_flr'), 'EINVAL');
    await io.write(dev(GPU, 'reset_method'), '');
    assert.equal(io.readText(dev(GPU, 'reset_method')), '');
    await expectErrno(io.write(dev(GPU, 'reset'), '1'), 'ENOTTY');
    await io.write(dev(GPU, 'reset_method'), 'default');
    assert.equal(io.readText(dev(GPU, 'reset_method')), 'flr pm bus');
  });

  it('a wedged function refuses its host driver until a reset; "no-nodes" binds without DRM nodes; "forever" outlives resets', async () => {
    const io = await host(loadScenario('seed'));
    const root = io.root;
    await io.write(dev(GPU, 'driver/unbind'), GPU);
    wedgeFunction(root, GPU, 'probe-fails');
    await io.write('sys/bus/pci/drivers_probe', GPU);
    assert.equal(driverOf(io, GPU), null);
    await io.write(dev(GPU, 'reset'), '1');
    await io.write('sys/bus/pci/drivers_probe', GPU);
    assert.equal(driverOf(io, GPU), 'nouveau');
    assert.equal(io.exists('dev/dri/card0'), true);

    await io.write(dev(GPU, 'driver/unbind'), GPU);
    wedgeFunction(root, GPU, 'no-nodes');
    await io.write('sys/bus/pci/drivers_probe', GPU);
    assert.equal(driverOf(io, GPU), 'nouveau');
    assert.equal(io.exists('dev/dri/card0'), false);
    await io.write(dev(GPU, 'driver/unbind'), GPU);
    await io.write(dev(GPU, 'reset'), '1');
    await io.write('sys/bus/pci/drivers_probe', GPU);
    assert.equal(io.exists('dev/dri/card0'), true);

    await io.write(dev(GPU, 'driver/unbind'), GPU);
    wedgeFunction(root, GPU, 'forever');
    await io.write(dev(GPU, 'reset'), '1');
    await io.write('sys/bus/pci/drivers_probe', GPU);
    assert.equal(driverOf(io, GPU), null);
  });

  it('a bridge has reset_subordinate from 6.14: it resets every function below it; the reader finds it only when the bus is the card\'s', async () => {
    assert.equal((await host(loadScenario('seed'))).exists(dev(ROOT_PORT, 'reset_subordinate')), false);
    const io = await host(seedWith('6.14.0-sim', { pm: false }));
    assert.equal(io.exists(dev(ROOT_PORT, 'reset_subordinate')), true);
    assert.equal(slotResetBridge(io, GPU), ROOT_PORT);
    assert.equal(slotResetBridge(io, '0000:00:1f.3'), null, 'on the root bus');
    await io.write(dev(GPU, 'driver/unbind'), GPU);
    await io.write(dev(AUDIO, 'driver/unbind'), AUDIO);
    wedgeFunction(io.root, GPU, 'probe-fails');
    wedgeFunction(io.root, AUDIO, 'probe-fails');
    await expectErrno(io.write(dev(ROOT_PORT, 'reset_subordinate'), 'x'), 'EINVAL');
    await io.write(dev(ROOT_PORT, 'reset_subordinate'), '1');
    await io.write('sys/bus/pci/drivers_probe', GPU);
    await io.write('sys/bus/pci/drivers_probe', AUDIO);
    assert.equal(driverOf(io, GPU), 'nouveau');
    assert.equal(driverOf(io, AUDIO), 'snd_hda_intel');
  });
});
