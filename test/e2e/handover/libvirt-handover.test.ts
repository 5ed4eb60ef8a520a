// The single-GPU handover end to end: a REAL libvirtd runs our hook, the hook calls the REAL daemon
// on a private bus, and the daemon hands the simulated seed host's only GPU over, talking to the
// systemd and logind stand-ins on that bus. The VM's settings come from the config file and from
// the domain's own <metadata>.

import assert from 'node:assert/strict';
import { findVtconsole } from '../../../src/host/consoles';
import { isModuleLoaded } from '../../../src/host/modules';
import { startLibvirt, type Libvirt } from '../../support/libvirt-harness';
import { safeDomainXml } from '../../support/safe-domain';
import { SEED_DESKTOP } from '../daemon/daemon-under-test';
import { ALL_VFIO, GpuHost, RTX, RTX_HOST_DRIVERS, gpuHookdHookFiles, gpuMetadata, installHookConf } from '../libvirt/gpu-host';
import { holdDevice, type DeviceHolder } from './device-holder';
import { FBCON } from './handover-host';

/** The VM whose config section asks for the whole handover: sessions ended, modules unloaded. */
const SINGLE_GPU_VM = 'gpuhookd-e2e-single-gpu';

describe('single-GPU handover through virsh and a real libvirtd', function () {
  this.timeout(120_000);
  let host: GpuHost;
  let lv: Libvirt;
  let removeHookConf: (() => void) | undefined;
  let holder: DeviceHolder | undefined;
  const defined: string[] = [];

  before(async () => {
    host = await GpuHost.start({
      config: { vms: { [SINGLE_GPU_VM]: { endSessions: true, unloadModules: true } } },
      desktop: { ...SEED_DESKTOP, sessions: [{ id: '2', uid: 1000, user: 'alice', type: 'wayland' }, { id: '3', uid: 1000, user: 'alice', type: 'tty' }] },
    });
    // The harness is one per machine: hold it first, then write the machine-wide hook.conf.
    lv = await startLibvirt({ hooks: gpuHookdHookFiles(), waitForOtherRunMs: 300_000 });
    removeHookConf = installHookConf(host.hookConf());
  });

  after(async () => {
    try {
      await lv?.stop();
    } finally {
      removeHookConf?.();
      await host?.stop();
    }
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.log(`--- gpu-hookd log ---\n${host.daemonLog().slice(-8000)}`);
    await holder?.release();
    holder = undefined;
    for (const name of defined.splice(0)) await lv.virsh(['destroy', name]);
  });

  async function define(name: string, metadata: string): Promise<string> {
    const domain = await lv.defineDomain(safeDomainXml({ name, metadata }));
    defined.push(domain);
    return domain;
  }

  const desktop = (): NonNullable<GpuHost['daemon']['desktop']> => host.daemon.desktop as NonNullable<GpuHost['daemon']['desktop']>;

  it('virsh start runs the whole handover; virsh destroy brings the display manager, the console and nouveau back', async () => {
    const name = await define(SINGLE_GPU_VM, gpuMetadata());
    const before = host.pciState();
    const io = host.daemon.sim.io;

    const start = await lv.virsh(['start', name]);
    assert.equal(start.code, 0, start.stderr);
    assert.deepEqual(host.drivers(), ALL_VFIO);
    assert.equal(await host.displayManager(), 'inactive');
    assert.deepEqual((await desktop().logind.sessions()).map((s) => [s.id, s.type]), [['3', 'tty']], 'the graphical session ended, the text one stays');
    assert.equal(findVtconsole(io, FBCON), undefined);
    assert.equal(isModuleLoaded(io, 'nouveau'), false);

    assert.equal((await lv.virsh(['destroy', name])).code, 0);
    assert.deepEqual(host.drivers(), RTX_HOST_DRIVERS);
    assert.equal(await host.displayManager(), 'active', 'the desktop is back');
    assert.equal(findVtconsole(io, FBCON)?.bound, true);
    assert.equal(isModuleLoaded(io, 'nouveau'), true);
    assert.deepEqual(host.pciState(), before);
    const jobs = (await desktop().systemd.calls()).filter((c) => c.member === 'StopUnit' || c.member === 'StartUnit').map((c) => `${c.member} ${String(c.args[0])}`);
    assert.deepEqual(jobs.slice(-2), ['StopUnit display-manager.service', 'StartUnit display-manager.service']);
  });

  it('a process holding the GPU fails virsh start with one line naming it and its PID, and the desktop stays', async () => {
    const name = await define('gpuhookd-e2e-held', gpuMetadata());
    holder = await holdDevice(host.root, 'dev/dri/card0');
    const start = await lv.virsh(['start', name]);
    assert.equal(start.code, 1);
    assert.match(start.stderr, new RegExp(`gpu-hookd: .*node \\(PID ${holder.pid}\\) holds /dev/dri/card0.*set holders to "terminate"`));
    assert.equal((await lv.virsh(['domstate', name])).stdout.trim(), 'shut off');
    assert.deepEqual(host.drivers(), RTX_HOST_DRIVERS);
    assert.equal(await host.displayManager(), 'active');
  });

  it('holders="terminate" in the domain\'s metadata ends the holder and the VM starts', async () => {
    const name = await define('gpuhookd-e2e-terminate', gpuMetadata(RTX, `holders='terminate'`));
    holder = await holdDevice(host.root, 'dev/dri/card0');
    const start = await lv.virsh(['start', name]);
    assert.equal(start.code, 0, start.stderr);
    assert.equal(await holder.exited, 'SIGTERM');
    assert.deepEqual(host.drivers(), ALL_VFIO);
    assert.equal((await lv.virsh(['destroy', name])).code, 0);
    assert.equal(await host.displayManager(), 'active');
  });
});

