// The ledger at the daemon's start: whatever a crash or an earlier version left in the state
// directory, the service ends where a fresh start on that host would, keeps only claims and records
// that the host bears out, and a VM's prepare and release give the host its GPU back.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { GpuService } from '../../../src/daemon/gpu-service';
import { TransitionEngine } from '../../../src/engine/transition-engine';
import { snapshotHost } from '../../../src/sim/snapshot';
import { buildTestDomainXml } from '../../support/safe-domain';
import { assertHostRestored, simEngine, TEST_TIMEOUTS, type SimEngine } from '../engine/sim-engine';

const GPU = '0000:01:00.0';
const WIN10 = buildTestDomainXml({ name: 'win10', hostdevs: [{ address: GPU }] });

describe('the ledger at start', () => {
  let sim: SimEngine;
  beforeEach(async () => {
    sim = await simEngine('seed');
    // One round trip first: the firmware framebuffer does not come back once the boot GPU moved.
    await sim.engine.detach(GPU);
    await sim.engine.attach(GPU);
  });
  afterEach(() => sim.dispose());

  /** A daemon's start on this host and state directory, as after a restart. */
  async function restarted(isVmRunning?: (vm: string) => Promise<boolean | undefined>): Promise<GpuService> {
    const engine = new TransitionEngine({ io: sim.host.io, stateDir: sim.stateDir, timeouts: TEST_TIMEOUTS });
    const service = new GpuService({ io: sim.host.io, engine, stateDir: sim.stateDir, log: pino({ level: 'silent' }), isVmRunning });
    await service.start();
    return service;
  }

  const ownersFile = (): string => path.join(sim.stateDir, 'owners.json');
  const recordFile = (): string => path.join(sim.stateDir, 'gpus', `${GPU}.json`);

  it('drops a claim by hand that an earlier version wrote before a crash cut its Detach short, so the VM\'s release gives the GPU back', async () => {
    const before = snapshotHost(sim.host.io);
    fs.writeFileSync(ownersFile(), JSON.stringify({ [GPU]: { vm: '', manual: true } }));
    const service = await restarted();
    assert.equal(fs.existsSync(ownersFile()), false, 'the old claims file is gone');
    assert.deepEqual([service.view(GPU).mode, service.view(GPU).owner], ['host', '']);

    await service.prepare('win10', WIN10);
    assert.equal(service.view(GPU).owner, 'win10');
    await service.release('win10', WIN10);
    assertHostRestored(snapshotHost(sim.host.io), before, 'after the VM');
    assert.deepEqual(sim.engine.ledger.list(), []);
  });

  it('moves a claim by hand of a GPU that an earlier version detached into its record, so it stays on vfio-pci for the next VM', async () => {
    await sim.engine.detach(GPU);
    fs.writeFileSync(ownersFile(), JSON.stringify({ [GPU]: { vm: '', manual: true }, '0000:09:00.0': { vm: 'gone', manual: false } }));
    const service = await restarted();
    assert.equal(fs.existsSync(ownersFile()), false);
    assert.deepEqual(JSON.parse(fs.readFileSync(recordFile(), 'utf8')).manual, true);
    await service.prepare('win10', WIN10);
    await service.release('win10', WIN10);
    assert.deepEqual([service.view(GPU).mode, service.view(GPU).owner], ['vfio', '']);
  });

  it('drops a record whose GPU is on its host drivers (a crash between an attach\'s last step and the record\'s removal)', async () => {
    await sim.engine.detach(GPU, { owner: 'win10' });
    const record = fs.readFileSync(recordFile(), 'utf8');
    await sim.engine.attach(GPU);
    fs.mkdirSync(path.dirname(recordFile()), { recursive: true });
    fs.writeFileSync(recordFile(), record);
    const service = await restarted();
    assert.equal(fs.existsSync(recordFile()), false);
    assert.deepEqual([service.view(GPU).mode, service.view(GPU).owner], ['host', '']);
  });

  it('keeps the claim of a VM that still runs on a GPU on vfio-pci, and gives back the GPU of a VM that is gone', async () => {
    await sim.engine.detach(GPU, { owner: 'win10' });
    const kept = await restarted(async () => true);
    assert.deepEqual([kept.view(GPU).mode, kept.view(GPU).owner], ['vfio', 'win10']);
    const given = await restarted(async () => false);
    assert.deepEqual([given.view(GPU).mode, given.view(GPU).owner], ['host', '']);
    assert.deepEqual(sim.engine.ledger.list(), []);
  });

  it('a claim on a GPU still on its host drivers is memory only: nothing reaches the state directory before the GPU moves', async () => {
    const service = await restarted();
    const claims: string[] = [];
    service.on('transition-started', () => claims.push(...fs.readdirSync(sim.stateDir).flatMap((d) => (d === 'gpus' ? fs.readdirSync(path.join(sim.stateDir, d)) : []))));
    await service.detachByHand(GPU);
    assert.deepEqual(claims, [], 'no record when the transition starts');
    assert.equal(JSON.parse(fs.readFileSync(recordFile(), 'utf8')).manual, true, 'the record of the detach holds the claim by hand');
  });
});
