// Fault injection reaches writes made by another process: the rules live in the tree and are read
// on every write. Each test starts a child process that writes, after the test set a rule.

import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HostIO, HostTimeoutError, HostWriteError } from '../../../src/host/host-io';
import { clearFaults, faultCounts, injectFault } from '../../../src/sim/faults';
import { loadScenario } from '../../../src/sim/scenarios';
import { createSimHost, SimHost } from '../../../src/sim/sim-host';
import { snapshotHost } from '../../../src/sim/snapshot';

const CHILD = path.join(__dirname, 'child-writer.js');
const AUDIO = '0000:01:00.1';
const GPU = '0000:01:00.0';
const driverOf = (io: HostIO, a: string) => io.readLinkName(`sys/bus/pci/devices/${a}/driver`) ?? null;

interface Result {
  ok: boolean;
  code?: string;
  name?: string;
  message?: string;
  simulated: boolean;
}

function inChild(root: string, ops: object[]): Promise<Result[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD, root, JSON.stringify(ops)], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`child writer failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as Result[]);
    });
  });
}

describe('fault injection on the simulated host', function () {
  this.timeout(30_000);
  let host: SimHost;
  beforeEach(async () => {
    host = await createSimHost(loadScenario('seed'), { zeroDelays: true });
  });
  afterEach(async () => host.dispose());

  it('a rule set by the test makes another process\'s write fail with its errno, changing nothing', async () => {
    const before = snapshotHost(host.io);
    injectFault(host.root, { path: `sys/bus/pci/devices/${AUDIO}/driver/unbind`, effect: { kind: 'fail', errno: 'EBUSY' } });
    const [result] = await inChild(host.root, [{ path: `sys/bus/pci/devices/${AUDIO}/driver/unbind`, value: AUDIO }]);
    assert.equal(result.simulated, true, 'openHostIO re-attached to the simulated host');
    assert.equal(result.ok, false);
    assert.equal(result.name, 'HostWriteError');
    assert.equal(result.code, 'EBUSY');
    assert.match(result.message ?? '', /^writing "0000:01:00\.1" to .*\/driver\/unbind failed: EBUSY/);
    assert.deepEqual(snapshotHost(host.io), before);
  });

  it('matches by value and glob, fires from the Nth matching write, and only `times` times', async () => {
    injectFault(host.root, { path: 'sys/bus/pci/devices/*/driver_override', value: 'vfio-pci', effect: { kind: 'fail', errno: 'EINVAL' }, nth: 2, times: 1 });
    const results = await inChild(host.root, [
      { path: `sys/bus/pci/devices/${GPU}/driver_override`, value: 'vfio-pci\n' },
      { path: `sys/bus/pci/devices/${AUDIO}/driver_override`, value: '\n' },
      { path: `sys/bus/pci/devices/${AUDIO}/driver_override`, value: 'vfio-pci\n' },
      { path: `sys/bus/pci/devices/${AUDIO}/driver_override`, value: 'vfio-pci\n' },
    ]);
    assert.deepEqual(results.map((r) => r.code ?? 'ok'), ['ok', 'ok', 'EINVAL', 'ok']);
    assert.deepEqual(faultCounts(host.root), [{ id: 1, matched: 3, fired: 1 }]);
  });

  it('a blocking write times out in the writer and the host is left as it was', async () => {
    const before = snapshotHost(host.io);
    injectFault(host.root, { path: 'sys/bus/pci/drivers/snd_hda_intel/unbind', effect: { kind: 'block' } });
    const [result] = await inChild(host.root, [{ path: 'sys/bus/pci/drivers/snd_hda_intel/unbind', value: AUDIO, timeoutMs: 200 }]);
    assert.equal(result.name, 'HostTimeoutError');
    assert.deepEqual(snapshotHost(host.io), before);
  });

  it('a write blocked for a while takes effect when it returns', async () => {
    injectFault(host.root, { path: 'sys/bus/pci/drivers/snd_hda_intel/unbind', effect: { kind: 'block', ms: 300 } });
    const write = host.io.write('sys/bus/pci/drivers/snd_hda_intel/unbind', AUDIO, { timeoutMs: 50 });
    await assert.rejects(write, HostTimeoutError);
    assert.equal(driverOf(host.io, AUDIO), 'snd_hda_intel', 'still bound while the write is stuck');
    const deadline = Date.now() + 5000;
    while (driverOf(host.io, AUDIO) !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(driverOf(host.io, AUDIO), null, 'the unbind finished later, as a kernel finishes a blocked write');
  });

  it('a driver that will not bind leaves the device unbound, with drivers_probe succeeding', async () => {
    injectFault(host.root, { path: 'sys/bus/pci/drivers_probe', value: AUDIO, effect: { kind: 'no-bind', driver: 'snd_hda_intel' } });
    const results = await inChild(host.root, [
      { path: `sys/bus/pci/devices/${AUDIO}/driver/unbind`, value: AUDIO },
      { path: 'sys/bus/pci/drivers_probe', value: AUDIO },
      { path: 'sys/bus/pci/drivers/snd_hda_intel/bind', value: AUDIO },
    ]);
    assert.deepEqual(results.map((r) => r.code ?? 'ok'), ['ok', 'ok', 'ok']);
    assert.equal(driverOf(host.io, AUDIO), 'snd_hda_intel', 'the explicit bind did not match the rule and bound');
  });

  it('a refused explicit bind reports the probe failure as ENODEV', async () => {
    await host.io.write(`sys/bus/pci/devices/${AUDIO}/driver/unbind`, AUDIO);
    injectFault(host.root, { path: 'sys/bus/pci/drivers/*/bind', effect: { kind: 'no-bind' } });
    await assert.rejects(host.io.write('sys/bus/pci/drivers/snd_hda_intel/bind', AUDIO), (e: unknown) => e instanceof HostWriteError && e.code === 'ENODEV');
    assert.equal(driverOf(host.io, AUDIO), null);
  });

  it('module loads and unloads are matched as "modprobe" with the module or "-r module"', async () => {
    injectFault(host.root, { path: 'modprobe', value: '-r nouveau', effect: { kind: 'fail', errno: 'EBUSY' } });
    await host.io.write(`sys/bus/pci/devices/${GPU}/driver/unbind`, GPU);
    const [unload, load] = await inChild(host.root, [{ unload: 'nouveau' }, { load: 'vfio_pci' }]);
    assert.equal(unload.name, 'ModuleError');
    assert.equal(unload.code, 'EBUSY');
    assert.match(unload.message ?? '', /could not remove 'nouveau'/);
    assert.equal(load.ok, true);
    assert.ok(host.io.exists('sys/module/nouveau'));
  });

  it('clearFaults removes every rule', async () => {
    injectFault(host.root, { path: 'sys/bus/pci/drivers_probe', effect: { kind: 'fail', errno: 'EIO' } });
    clearFaults(host.root);
    const [result] = await inChild(host.root, [{ path: 'sys/bus/pci/drivers_probe', value: AUDIO }]);
    assert.equal(result.ok, true);
  });

  it('takes over the lock left by a process killed while holding it', async () => {
    const dead = spawnSync('true').pid;
    assert.ok(dead);
    fs.writeFileSync(path.join(host.root, '.gpu-hookd-sim', 'lock'), String(dead));
    await host.io.write(`sys/bus/pci/devices/${AUDIO}/driver/unbind`, AUDIO);
    assert.equal(driverOf(host.io, AUDIO), null);
  });

  it('faultCounts waits for a writer holding the host\'s lock instead of reading faults.json half-written', async () => {
    const id = injectFault(host.root, { path: 'sys/bus/pci/drivers_probe', effect: { kind: 'fail', errno: 'EIO' } });
    const marker = path.join(host.root, '.gpu-hookd-sim');
    const [faults, lock, go] = ['faults.json', 'lock', 'writer-go'].map((f) => path.join(marker, f));
    const whole = fs.readFileSync(faults, 'utf8');
    // The writer: once told to go, it finishes rewriting faults.json a little later and lets the lock go.
    const script =
      'const fs = require("node:fs"); const [faults, lock, go, text] = process.argv.slice(1);' +
      'const poll = setInterval(() => { if (!fs.existsSync(go)) return; clearInterval(poll);' +
      'setTimeout(() => { fs.writeFileSync(faults, text); fs.unlinkSync(lock); }, 100); }, 5);';
    const writer = spawn(process.execPath, ['-e', script, faults, lock, go, whole], { stdio: 'ignore' });
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    try {
      assert.ok(writer.pid);
      fs.writeFileSync(lock, String(writer.pid));
      fs.writeFileSync(faults, whole.slice(0, Math.floor(whole.length / 2)));
      fs.writeFileSync(go, '');
      assert.deepEqual(faultCounts(host.root), [{ id, matched: 0, fired: 0 }]);
    } finally {
      if (writer.exitCode === null) writer.kill('SIGKILL');
      await exited;
    }
  });

  it('refuses malformed rules and roots that are not simulated hosts', () => {
    assert.throws(() => injectFault(host.root, { path: '/sys/bus/pci/drivers_probe', effect: { kind: 'fail', errno: 'EBUSY' } }), /root-relative/);
    assert.throws(() => injectFault(host.root, { path: 'x', effect: { kind: 'fail', errno: 'EAGAIN' as 'EBUSY' } }), /errno must be one of/);
    assert.throws(() => injectFault(path.dirname(host.root), { path: 'x', effect: { kind: 'fail', errno: 'EBUSY' } }), /is not a simulated host/);
    assert.throws(() => faultCounts(path.dirname(host.root)), /is not a simulated host/);
  });
});
