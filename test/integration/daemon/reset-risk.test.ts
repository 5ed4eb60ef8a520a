// Prepare weighs how the GPU will come back before the VM starts: a GPU with no reset the kernel can
// use is refused when the VM's resetRisk setting (host default, the VM's section, its domain metadata)
// says "refuse", with the host unchanged, and is named in the journal with the fix otherwise.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { validateConfigObject, vmSettings } from '../../../src/daemon/config';
import { GpuService } from '../../../src/daemon/gpu-service';
import { ServiceError } from '../../../src/daemon/service-error';
import { loadScenario } from '../../../src/sim/scenarios';
import { snapshotHost } from '../../../src/sim/snapshot';
import { buildTestDomainXml } from '../../support/safe-domain';
import { simEngine, type SimEngine } from '../engine/sim-engine';

const GPU = '0000:01:00.0';
const CARD = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const domain = (name: string, resetRisk?: string): string =>
  buildTestDomainXml({
    name,
    hostdevs: [{ address: GPU }],
    ...(resetRisk ? { metadata: `<hookd:vm xmlns:hookd="https://gpuhookd.org/xmlns/vm/1" resetRisk="${resetRisk}"/>` } : {}),
  });

describe('prepare and a GPU known to come back broken', function () {
  this.timeout(30_000);
  let sim: SimEngine;
  let warnings: string[];

  /** The seed, its card without any reset (no FLR, no PM reset, functions sharing a bus). */
  beforeEach(async () => {
    const s = loadScenario('seed');
    sim = await simEngine({ ...s, devices: s.devices.map((d) => (CARD.includes(d.address) ? { ...d, reset: { flr: false, pm: false, busReset: true } } : d)) });
  });
  afterEach(() => sim.dispose());

  async function service(config: object): Promise<GpuService> {
    warnings = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        const line = JSON.parse(chunk.toString()) as { level: number; msg: string };
        if (line.level === 40) warnings.push(line.msg);
        done();
      },
    });
    const resolved = validateConfigObject(config, '/etc/gpu-hookd/config.json');
    const svc = new GpuService({
      io: sim.host.io,
      engine: sim.engine,
      stateDir: sim.stateDir,
      log: pino({ level: 'warn' }, sink),
      resetRiskPolicy: (vm, metadata) => vmSettings(resolved, vm, metadata).resetRisk,
    });
    await svc.start();
    return svc;
  }

  it('by default: the VM starts, and the journal says which GPU may not come back and what to do', async () => {
    const svc = await service({});
    assert.deepEqual(await svc.prepare('win10', domain('win10')), [GPU]);
    assert.deepEqual(warnings.filter((w) => w.includes('may not come back')), [
      `VM win10 takes ${GPU}, which may not come back after it: ${GPU} has no reset the kernel can use (no reset method, and its bus cannot be ` +
        `reset alone), so a VM can leave it in a state its host driver cannot take back: keep it on vfio-pci between VMs ("gpu-hookctl detach ${GPU}" ` +
        'once; VMs then take it and leave it there), or move the card to a slot of its own',
    ]);
  });

  it('"refuse" for the host: refused before any change, naming the fix and the setting', async () => {
    const svc = await service({ defaults: { resetRisk: 'refuse' } });
    const before = snapshotHost(sim.host.io);
    await assert.rejects(svc.prepare('win10', domain('win10')), (e: unknown) => {
      assert.ok(e instanceof ServiceError);
      assert.equal(e.kind, 'NotViable');
      assert.match(e.message, /^VM win10 is refused before any change because 0000:01:00\.0 has no reset the kernel can use .*, and its resetRisk setting is "refuse": keep it on vfio-pci between VMs .*; or set resetRisk to "warn" for win10 \(config or domain metadata\) to start it anyway$/);
      return true;
    });
    assert.deepEqual(snapshotHost(sim.host.io), before);
    assert.equal(svc.view(GPU).owner, '', 'no claim is left behind');
  });

  it('per VM: the VM\'s section and its domain metadata override the host\'s setting', async () => {
    const svc = await service({ defaults: { resetRisk: 'refuse' }, vms: { lab: { resetRisk: 'warn' } } });
    await assert.rejects(svc.prepare('win10', domain('win10')), /resetRisk setting is "refuse"/);
    assert.deepEqual(await svc.prepare('lab', domain('lab')), [GPU]);
    await svc.release('lab', domain('lab'));
    assert.deepEqual(await svc.prepare('win11', domain('win11', 'warn')), [GPU]);
    await svc.release('win11', domain('win11', 'warn'));
    const strict = await service({});
    await assert.rejects(strict.prepare('win12', domain('win12', 'refuse')), /resetRisk setting is "refuse"/);
  });

  it('a GPU the kernel can reset passes without a word', async () => {
    await sim.dispose();
    sim = await simEngine('seed');
    const svc = await service({ defaults: { resetRisk: 'refuse' } });
    assert.deepEqual(await svc.prepare('win10', domain('win10')), [GPU]);
    assert.deepEqual(warnings.filter((w) => w.includes('come back')), []);
  });
});
