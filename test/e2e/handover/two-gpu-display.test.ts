// Passing one GPU of a two-GPU host never touches the display of the other: the display manager,
// the processes it started, fbcon and the other GPU's framebuffer and DRM nodes stay as they were,
// although the passed GPU registered a framebuffer of its own. On the simulated hosts with the
// systemd and logind stand-ins, with the handover asked for as a VM's prepare asks for it.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ScenarioFile } from '../../../src/sim/scenario';
import { parseScenario } from '../../../src/sim/scenario-parse';
import { loadScenario } from '../../../src/sim/scenarios';
import twoGpuFile from '../../../src/sim/scenarios/two-gpu';
import { DM_UNIT } from '../../../src/sim/desktop/simulated-desktop';
import { snapshotHost } from '../../../src/sim/snapshot';
import { findVtconsole } from '../../../src/host/consoles';
import { assertHostRestored } from '../../integration/engine/sim-engine';
import { FBCON, handoverSuite, SETTINGS, simProcessRuns, type HandoverHostOptions } from './handover-host';

/** two-gpu with nvidia-drm's fbdev emulation on (nvidia-drm.fbdev=1): the RTX registers fb1 of its own. */
function nvidiaWithFbdev(): ReturnType<typeof parseScenario> {
  const file = structuredClone(twoGpuFile) as ScenarioFile;
  file.modules = (file.modules ?? []).map((m) =>
    m.name === 'nvidia' ? { ...m, drivers: [{ name: 'nvidia', ids: ['10de:*:03'], drm: { fbdev: true, fbName: 'nvidia-drmdrmfb', renderNode: true, removesFirmwareFb: false } }] } : m,
  );
  return parseScenario({ ...file, name: 'two-gpu-nvidia-fbdev' }, 'two-gpu-nvidia-fbdev');
}

interface Case {
  title: string;
  host: HandoverHostOptions;
  passed: string;
  /** The other GPU's framebuffer: fbcon draws on it before, during and after. */
  otherFb: { fb: number; device: string };
  dmPids: number[];
}

const CASES: Case[] = [
  {
    title: 'iGPU desktop (i915, fb1) + GeForce on nouveau (fb0, card0): the GeForce goes',
    // alice's session is on seat0, which both GPUs serve: it says nothing about the GeForce.
    host: { scenario: 'igpu-nouveau', desktop: { dmPids: [812, 845], sessions: [{ id: '2', uid: 1000, user: 'alice', type: 'x11' }] } },
    passed: '0000:01:00.0',
    otherFb: { fb: 1, device: '0000:00:02.0' },
    dmPids: [812, 845],
  },
  {
    title: 'two Radeons on amdgpu, desktop on the boot VGA (fb0): the second one (fb1) goes',
    host: { scenario: 'two-amd', desktop: { dmPids: [901, 1450] } },
    passed: '0000:0f:00.0',
    otherFb: { fb: 0, device: '0000:0c:00.0' },
    dmPids: [901, 1450],
  },
  {
    title: 'iGPU desktop (i915, fb0) + RTX on the proprietary nvidia driver with fbdev (fb1): the RTX goes',
    host: { scenario: nvidiaWithFbdev(), desktop: { dmPids: [812, 845], units: [{ name: 'nvidia-persistenced.service', pids: [700] }] } },
    passed: '0000:01:00.0',
    otherFb: { fb: 0, device: '0000:00:02.0' },
    dmPids: [812, 845],
  },
];

describe('two-GPU hosts: passing one GPU leaves the other\'s display alone', function () {
  this.timeout(30_000);
  const suite = handoverSuite();

  for (const c of CASES) {
    it(`${c.title}: display manager, its processes, fbcon and the other GPU's nodes untouched through prepare and release`, async () => {
      const host = await suite.host(c.host);
      const before = snapshotHost(host.sim.io);
      assert.ok(before.framebuffers.some((f) => f.device === c.passed), 'the passed GPU registered a framebuffer');
      assert.ok(before.framebuffers.some((f) => f.fb === c.otherFb.fb && f.device === c.otherFb.device), JSON.stringify(before.framebuffers));
      assert.deepEqual(before.fbconMap, [c.otherFb.fb]);
      const otherNodes = before.dri.filter((n) => n.device !== c.passed);

      const detach = await host.engine.detach(c.passed, { owner: 'win10', handover: SETTINGS });
      const kinds = detach.steps.map((s) => s.description);
      assert.deepEqual(kinds.filter((d) => /display-manager|vtconsole|framebuffer|holds|nvidia-persistenced/.test(d)), [], kinds.join(' | '));
      assert.equal((await host.desktop.systemd.unit(DM_UNIT)).activeState, 'active');
      for (const pid of c.dmPids) assert.equal(simProcessRuns(host, pid), true, `display manager process ${pid} runs`);
      assert.deepEqual(await host.desktop.systemd.calls('StopUnit'), []);
      const during = snapshotHost(host.sim.io);
      assert.equal(findVtconsole(host.sim.io, FBCON)?.bound, true);
      assert.deepEqual(during.fbconMap, [c.otherFb.fb]);
      assert.deepEqual(during.framebuffers.filter((f) => f.device !== c.passed), before.framebuffers.filter((f) => f.device !== c.passed));
      assert.deepEqual(during.dri, otherNodes);
      assert.equal(host.engine.ledger.load(c.passed)?.handover, undefined, 'nothing handed over, nothing to give back');

      const attach = await host.engine.attach(c.passed);
      assert.equal(attach.notes, undefined, 'the GPU came back under its own numbers');
      assert.deepEqual(await host.desktop.systemd.calls('StopUnit'), []);
      assert.deepEqual(await host.desktop.systemd.calls('StartUnit'), []);
      for (const pid of c.dmPids) assert.equal(simProcessRuns(host, pid), true, `display manager process ${pid} runs`);
      assertHostRestored(snapshotHost(host.sim.io), before);
    });
  }

  it('a graphical session on a seat the passed GPU alone serves (multi-seat) is a use of that GPU: the display manager stops', async () => {
    const host = await suite.host({ scenario: 'igpu-nouveau', desktop: { dmPids: [812, 845], sessions: [{ id: '3', uid: 1001, user: 'bob', seat: 'seat1' }] } });
    // udev's rule put the GeForce's card0 (226:0) on seat1; the iGPU's card1 stays on seat0.
    fs.mkdirSync(path.join(host.sim.root, 'run/udev/data'), { recursive: true });
    fs.writeFileSync(path.join(host.sim.root, 'run/udev/data/c226:0'), 'E:ID_SEAT=seat1\nG:seat\n');
    const detach = await host.engine.detach('0000:01:00.0', { owner: 'win10', handover: SETTINGS });
    assert.equal(detach.steps[0].description, 'stop display-manager.service');
    assert.deepEqual(host.engine.ledger.load('0000:01:00.0')?.handover?.map((s) => s.kind), ['stop-unit', 'check-holders']);
    await host.engine.attach('0000:01:00.0');
    assert.equal((await host.desktop.systemd.unit(DM_UNIT)).activeState, 'active');
  });

  it('a process of the desktop holding the passed GPU\'s render node is a use of that GPU: the display manager stops', async () => {
    const scenario = loadScenario('igpu-nouveau');
    scenario.processes = scenario.processes.map((p) => (p.pid === 845 ? { ...p, fds: [...p.fds, '/dev/dri/renderD128'] } : p));
    const host = await suite.host({ scenario, desktop: { dmPids: [812, 845] } });
    const detach = await host.engine.detach('0000:01:00.0', { owner: 'win10', handover: SETTINGS });
    assert.deepEqual(detach.steps.slice(0, 2).map((s) => s.description), ['stop display-manager.service', 'check that no process holds 0000:01:00.0']);
    // fbcon draws on the iGPU's fb1: it is not the passed GPU's to unbind.
    assert.equal(findVtconsole(host.sim.io, FBCON)?.bound, true);
    await host.engine.attach('0000:01:00.0');
    assert.equal((await host.desktop.systemd.unit(DM_UNIT)).activeState, 'active');
  });
});
