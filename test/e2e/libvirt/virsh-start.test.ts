// `virsh start` through a REAL libvirtd running our hook, which talks to the REAL daemon on a
// private bus over the simulated seed host. QEMU cannot open a simulated device, so the domains that
// must run declare their GPU in our metadata; domains with the GPU as a <hostdev> still drive
// prepare and release through libvirt, which then refuses to start them itself (no IOMMU here).
// A probe hook that runs after ours records the drivers libvirt would find at each call.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Libvirt } from '../../support/libvirt-harness';
import { safeDomainXml, type TestDomainSpec } from '../../support/safe-domain';
import { waitFor } from '../../support/processes';
import { clearFaults, injectFault } from '../../../src/sim/faults';
import { listRunningDomains, runningDomainCheck } from '../../../src/libvirt/running-domains';
import { ALL_VFIO, GpuHost, stopLibvirtAndHost, RTX, RTX_HOST_DRIVERS, driverProbeHook, gpuMetadata, probeRecords, startLibvirtWithHook } from './gpu-host';

const HOST_DRIVERS_LINE = RTX_HOST_DRIVERS.join(' ');
const VFIO_LINE = ALL_VFIO.join(' ');

describe('virsh start with the gpu-hookd hook in a real libvirtd', function () {
  this.timeout(120_000);
  let host: GpuHost;
  let lv: Libvirt;
  let stopLibvirt: (() => Promise<void>) | undefined;
  let probeLog: string;
  let started: string[] = [];

  before(async function () {
    // Another run (of these tests or others) may hold the machine's one libvirt harness: wait for it.
    this.timeout(360_000);
    host = await GpuHost.start();
    probeLog = path.join(host.workDir, 'probe.log');
    ({ lv, stop: stopLibvirt } = await startLibvirtWithHook(host, [driverProbeHook(host.root, probeLog)]));
  });

  after(() => stopLibvirtAndHost(stopLibvirt, host));

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      console.log(`--- gpu-hookd log ---\n${host.daemonLog().slice(-12000)}\n--- libvirtd log (hooks) ---\n${lv.libvirtdLog().split('\n').filter((l) => /hook/i.test(l)).slice(-30).join('\n')}`);
    }
    clearFaults(host.root);
    if (!host.daemonRunning()) await host.startDaemon();
    for (const name of started) await lv.virsh(['destroy', name]);
    started = [];
  });

  /** Defines a domain (named for this test) and remembers to destroy it after the test. */
  async function define(name: string, spec: Omit<TestDomainSpec, 'name'>): Promise<string> {
    const defined = await lv.defineDomain(safeDomainXml({ name, ...spec }));
    started.push(defined);
    return defined;
  }

  async function domState(name: string): Promise<string> {
    return (await lv.virsh(['domstate', name])).stdout.trim();
  }

  /** virsh's error line for a failed hook: libvirt appends the hook's stderr after the exit status. */
  function hookMessage(stderr: string): string {
    const m = /unexpected exit status 1: (.*)$/m.exec(stderr);
    assert.ok(m, `virsh shows the hook's failure: ${stderr}`);
    return m[1].trim();
  }

  it('a domain whose metadata names the RTX 2060 gets its whole group on vfio-pci; destroy gives it back', async () => {
    const name = await define('gpuhookd-e2e-meta', { metadata: gpuMetadata() });
    const before = host.pciState();
    const start = await lv.virsh(['start', name]);
    assert.equal(start.code, 0, start.stderr);
    assert.equal(await domState(name), 'running');
    assert.deepEqual(host.drivers(), ALL_VFIO);
    assert.deepEqual(await host.gpu(), { mode: 'vfio', owner: name, lastError: '', drivers: ALL_VFIO });
    assert.equal(await host.displayManager(), 'inactive', 'the desktop was on this GPU: its display manager is stopped');
    assert.deepEqual(probeRecords(probeLog, name).slice(0, 3), [`prepare begin ${VFIO_LINE}`, `start begin ${VFIO_LINE}`, `started begin ${VFIO_LINE}`]);

    assert.equal((await lv.virsh(['destroy', name])).code, 0);
    assert.deepEqual(host.drivers(), RTX_HOST_DRIVERS);
    assert.deepEqual(await host.gpu(), { mode: 'host', owner: '', lastError: '', drivers: RTX_HOST_DRIVERS });
    assert.deepEqual(probeRecords(probeLog, name).slice(3), [`stopped end ${VFIO_LINE}`, `release end ${HOST_DRIVERS_LINE}`]);
    assert.deepEqual(host.pciState(), before);
    assert.equal(await host.displayManager(), 'active', 'the desktop is back');
  });

  it('the documented `virsh metadata` command declares the GPU of a defined domain', async () => {
    const name = await define('gpuhookd-e2e-virsh-metadata', {});
    const set = await lv.virsh(['metadata', name, 'https://gpuhookd.org/xmlns/vm/1', '--key', 'hookd', '--config', '--set', `<vm holders='refuse'><gpu address='${RTX}'/></vm>`]);
    assert.equal(set.code, 0, set.stderr);
    const start = await lv.virsh(['start', name]);
    assert.equal(start.code, 0, start.stderr);
    assert.deepEqual(await host.gpu(), { mode: 'vfio', owner: name, lastError: '', drivers: ALL_VFIO });
    assert.equal((await lv.virsh(['destroy', name])).code, 0);
    assert.deepEqual(host.drivers(), RTX_HOST_DRIVERS);
  });

  for (const managed of [false, true]) {
    it(`a domain with the VGA function as a managed='${managed ? 'yes' : 'no'}' hostdev: prepare moves all four functions, release after libvirt's own refusal gives them back`, async () => {
      const name = await define(`gpuhookd-e2e-hostdev-${managed ? 'yes' : 'no'}`, { hostdevs: [{ address: RTX, managed }] });
      const before = host.pciState();
      const start = await lv.virsh(['start', name]);
      // This machine has no IOMMU: libvirt refuses the passthrough itself, after our prepare.
      assert.equal(start.code, 1);
      assert.match(start.stderr, /passthrough/);
      assert.doesNotMatch(start.stderr, /gpu-hookd/);
      assert.deepEqual(probeRecords(probeLog, name), [`prepare begin ${VFIO_LINE}`, `stopped end ${VFIO_LINE}`, `release end ${HOST_DRIVERS_LINE}`]);
      assert.deepEqual(host.pciState(), before);
      assert.deepEqual(await host.gpu(), { mode: 'host', owner: '', lastError: '', drivers: RTX_HOST_DRIVERS });
    });
  }

  it('a prepare that fails in the kernel: virsh start shows our one line, the host is unchanged, stopped and release are handled', async () => {
    const name = await define('gpuhookd-e2e-fault', { metadata: gpuMetadata() });
    const before = host.pciState();
    injectFault(host.root, { path: 'sys/bus/pci/drivers/xhci_hcd/unbind', effect: { kind: 'fail', errno: 'EBUSY' }, times: 1 });
    const start = await lv.virsh(['start', name]);
    assert.equal(start.code, 1);
    const message = hookMessage(start.stderr);
    assert.match(message, /^gpu-hookd: .*0000:01:00\.2.*EBUSY/);
    assert.equal(start.stderr.split('\n').filter((l) => l.startsWith('gpu-hookd') || l.includes('gpu-hookd:')).length, 1, start.stderr);
    assert.equal(await domState(name), 'shut off');
    assert.deepEqual(host.pciState(), before);
    assert.deepEqual(probeRecords(probeLog, name), [`prepare begin ${HOST_DRIVERS_LINE}`, `stopped end ${HOST_DRIVERS_LINE}`, `release end ${HOST_DRIVERS_LINE}`]);
    const gpu = await host.gpu();
    assert.equal(gpu.mode, 'host');
    assert.equal(gpu.owner, '');
    assert.equal(await host.displayManager(), 'active');
  });

  it('two domains wanting the one GPU, started at once: exactly one runs, the other fails naming the holder', async () => {
    const names = [await define('gpuhookd-e2e-race-a', { metadata: gpuMetadata() }), await define('gpuhookd-e2e-race-b', { metadata: gpuMetadata() })];
    const results = await Promise.all(names.map((n) => lv.virsh(['start', n])));
    const winners = names.filter((_, i) => results[i].code === 0);
    assert.equal(winners.length, 1, results.map((r) => r.stderr).join('\n'));
    const [winner] = winners;
    const loser = names.find((n) => n !== winner) as string;
    const failed = results[names.indexOf(loser)];
    assert.equal(hookMessage(failed.stderr), `gpu-hookd: ${RTX} is held by VM ${winner}: stop that VM or remove the GPU from ${loser}`);
    assert.equal(await domState(winner), 'running');
    assert.equal(await domState(loser), 'shut off');
    // The loser's release (libvirt calls it after the failed prepare) left the winner's GPU alone.
    assert.deepEqual(await host.gpu(), { mode: 'vfio', owner: winner, lastError: '', drivers: ALL_VFIO });
    assert.equal((await lv.virsh(['destroy', winner])).code, 0);
    assert.deepEqual(host.drivers(), RTX_HOST_DRIVERS);
  });

  it('with the daemon stopped, a domain without GPUs starts and a domain with one fails closed', async () => {
    const plain = await define('gpuhookd-e2e-plain', {});
    const gpu = await define('gpuhookd-e2e-closed', { metadata: gpuMetadata() });
    await host.stopDaemon();
    const before = host.snapshot();
    assert.equal((await lv.virsh(['start', plain])).code, 0);
    assert.equal(await domState(plain), 'running');
    const start = await lv.virsh(['start', gpu]);
    assert.equal(start.code, 1);
    assert.equal(hookMessage(start.stderr), `gpu-hookd: gpu-hookd is not running: start it (systemctl start gpu-hookd) and start ${gpu} again; it asks for a GPU`);
    assert.equal(await domState(gpu), 'shut off');
    assert.deepEqual(host.snapshot(), before);
  });

  it('libvirtd restarted while the VM runs: reconnect is handled and nothing is torn down', async () => {
    const name = await define('gpuhookd-e2e-reconnect', { metadata: gpuMetadata() });
    assert.equal((await lv.virsh(['start', name])).code, 0);
    const qemu = lv.domainPid(name);
    await lv.restart();
    await waitFor('the reconnect hook call', () => probeRecords(probeLog, name).includes(`reconnect begin ${VFIO_LINE}`));
    assert.equal(await domState(name), 'running');
    assert.equal(lv.domainPid(name), qemu, 'the same QEMU process');
    assert.deepEqual(await host.gpu(), { mode: 'vfio', owner: name, lastError: '', drivers: ALL_VFIO });
    assert.equal((await lv.virsh(['destroy', name])).code, 0);
    assert.deepEqual(host.drivers(), RTX_HOST_DRIVERS);
  });

  it('the daemon SIGKILLed while a VM holds the GPU, restarted: the claim survives, and destroy restores the host', async () => {
    const name = await define('gpuhookd-e2e-sigkill', { metadata: gpuMetadata() });
    const before = host.pciState();
    assert.equal((await lv.virsh(['start', name])).code, 0);
    await host.killDaemon();
    await host.startDaemon();
    // At start the daemon asked libvirt which VMs run: this one does, so it keeps its GPU.
    assert.deepEqual(await host.gpu(), { mode: 'vfio', owner: name, lastError: '', drivers: ALL_VFIO });
    assert.equal((await lv.virsh(['destroy', name])).code, 0);
    assert.deepEqual(await host.gpu(), { mode: 'host', owner: '', lastError: '', drivers: RTX_HOST_DRIVERS });
    assert.deepEqual(host.pciState(), before);
    assert.equal(await host.displayManager(), 'active');
  });

  it('the VM destroyed while the daemon was down: the daemon gives the GPU back when it starts', async () => {
    const name = await define('gpuhookd-e2e-reconcile', { metadata: gpuMetadata() });
    const before = host.pciState();
    assert.equal((await lv.virsh(['start', name])).code, 0);
    await host.stopDaemon();
    assert.equal((await lv.virsh(['destroy', name])).code, 0, 'destroy succeeds; the failing release hook only logs');
    assert.deepEqual(host.drivers(), ALL_VFIO, 'nobody gave the GPU back yet');
    await host.startDaemon();
    assert.deepEqual(await host.gpu(), { mode: 'host', owner: '', lastError: '', drivers: RTX_HOST_DRIVERS });
    assert.deepEqual(host.pciState(), before);
    assert.equal(await host.displayManager(), 'active');
    assert.match(host.daemonLog(), /VM no longer runs: giving its GPU back/);
  });

  describe('asking libvirt which domains run (read-only)', () => {
    it('lists running and paused domains, not defined ones that are shut off', async () => {
      const running = await define('gpuhookd-e2e-list-running', {});
      const paused = await define('gpuhookd-e2e-list-paused', {});
      const off = await define('gpuhookd-e2e-list-off', {});
      for (const n of [running, paused]) assert.equal((await lv.virsh(['start', n])).code, 0);
      assert.equal((await lv.virsh(['suspend', paused])).code, 0);
      const names = await listRunningDomains();
      assert.ok(names.has(running) && names.has(paused), [...names].join(', '));
      assert.equal(names.has(off), false);
      const isRunning = runningDomainCheck();
      assert.equal(await isRunning(running), true);
      assert.equal(await isRunning(off), false);
    });
  });
});
