// The daemon's GPU service with the VM's CPU work in it, on the simulated two-GPU desktop (the RTX
// 3060 is the VM's; a hybrid CPU with 8 P-cores): CPUs are checked and changed before any GPU moves,
// a failure on either side undoes both, and release gives back both.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { simProcessAccess } from '../../../src/sim/open-host';
import { VmCpuManager } from '../../../src/cpu/vm-cpu-manager';
import { GpuService } from '../../../src/daemon/gpu-service';
import { TransitionEngine } from '../../../src/engine/transition-engine';
import { injectFault } from '../../../src/sim/faults';
import { loadScenario } from '../../../src/sim/scenarios';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { snapshotHost } from '../../../src/sim/snapshot';
import { buildTestDomainXml, type TestDomainSpec } from '../../support/safe-domain';
import { makeTempRoot } from '../../support/temp-root';
import { cpuKnobs, cpuRecords, unusedSystemd } from './cpu-host';

const RTX = '0000:01:00.0';
const GOVERNOR = { isolateCpus: false, pin: 'auto' as const, governor: true, irqAffinity: false, housekeepingCpus: '' };

describe('GPU service with a VM\'s CPUs', () => {
  let temp: { root: string; cleanup: () => void };
  let host: SimHost;
  let stateDir: string;
  let service: GpuService;
  let moves: string[];

  beforeEach(async () => {
    temp = makeTempRoot('gpu-hookd-cpu-service-');
    host = await createSimHost(loadScenario('two-gpu'), { dir: path.join(temp.root, 'host'), zeroDelays: true });
    stateDir = path.join(temp.root, 'state');
    fs.mkdirSync(stateDir);
    const engine = new TransitionEngine({ io: host.io, stateDir, timeouts: { writeMs: 500, probeMs: 500, vfioDeviceMs: 500 } });
    const cpus = new VmCpuManager({ io: host.io, processes: simProcessAccess(host.io), systemd: unusedSystemd, stateDir, settingsFor: () => GOVERNOR });
    service = new GpuService({ io: host.io, engine, cpus, stateDir, log: pino({ level: 'silent' }) });
    await service.start();
    moves = [];
    service.on('transition-started', (address, kind) => moves.push(`${kind} ${address}`));
  });

  afterEach(async () => {
    await host.dispose();
    temp.cleanup();
  });

  const xml = (spec: Partial<TestDomainSpec> = {}): string =>
    buildTestDomainXml({ name: 'win11', vcpus: 4, hostdevs: [{ address: RTX }, { address: '0000:01:00.1' }], ...spec });

  it('prepare sets the VM\'s governors and moves its GPU; release gives both back', async () => {
    const cpuBefore = cpuKnobs(host);
    const pciBefore = snapshotHost(host.io).pciDevices;
    assert.deepEqual(await service.prepare('win11', xml()), [RTX]);
    assert.equal(cpuKnobs(host)['cpu2/governor'], 'performance');
    assert.equal(service.view(RTX).mode, 'vfio');
    await service.release('win11', xml());
    assert.deepEqual(moves, [`detach ${RTX}`, `attach ${RTX}`]);
    assert.deepEqual(cpuKnobs(host), cpuBefore);
    assert.deepEqual(snapshotHost(host.io).pciDevices, pciBefore);
    assert.deepEqual(cpuRecords(stateDir), []);
  });

  it('a domain whose CPUs cannot be honoured is refused before its GPU moves', async () => {
    await assert.rejects(service.prepare('win11', xml({ cputune: { vcpupins: [{ vcpu: 0, cpuset: '99' }] } })), (e: unknown) => {
      const err = e as { kind?: string; message: string };
      assert.equal(err.kind, 'InvalidArgument');
      assert.match(err.message, /^<vcpupin vcpu='0'> of VM win11 names CPU 99, which this host does not have/);
      return true;
    });
    assert.deepEqual(moves, []);
    assert.equal(service.view(RTX).owner, '');
  });

  it('a GPU that fails to move gives the VM\'s CPUs back too', async () => {
    const cpuBefore = cpuKnobs(host);
    injectFault(host.root, { path: 'sys/bus/pci/drivers/vfio-pci/bind', effect: { kind: 'fail', errno: 'EBUSY' } });
    injectFault(host.root, { path: 'sys/bus/pci/drivers_probe', effect: { kind: 'fail', errno: 'EBUSY' } });
    await assert.rejects(service.prepare('win11', xml()), /EBUSY/);
    assert.deepEqual(moves, [`detach ${RTX}`]);
    assert.deepEqual(cpuKnobs(host), cpuBefore);
    assert.deepEqual(cpuRecords(stateDir), []);
    assert.equal(service.view(RTX).owner, '');
  });

  it('a VM without a GPU still gets its CPUs, and gives them back', async () => {
    const cpuBefore = cpuKnobs(host);
    assert.deepEqual(await service.prepare('win11', xml({ hostdevs: [] })), []);
    assert.equal(cpuKnobs(host)['cpu2/governor'], 'performance');
    await service.release('win11', '');
    assert.deepEqual(cpuKnobs(host), cpuBefore);
  });
});
