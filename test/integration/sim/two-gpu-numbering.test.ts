// How the simulated kernel numbers two GPUs' nodes and where fbcon goes, as the 6.1 kernel does:
// cardN, renderD(128+M) and fbN are each the lowest free number when a driver binds
// (drm_minor_alloc, register_framebuffer), and fbcon moves to the boot VGA's framebuffer when that
// one registers (FRAMEBUFFER_CONSOLE_DETECT_PRIMARY). The lab checks the same on a real kernel
// (test/lab/two-display.test.ts).

import assert from 'node:assert/strict';
import type { HostIO } from '../../../src/host/host-io';
import { loadScenario } from '../../../src/sim/scenarios';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { snapshotHost } from '../../../src/sim/snapshot';

const NOUVEAU = '0000:01:00.0';
const IGPU = '0000:00:02.0';

const numbering = (io: HostIO) => {
  const s = snapshotHost(io);
  return { dri: s.dri.map((n) => `${n.node} ${n.device}`), fb: s.framebuffers.map((f) => `fb${f.fb} ${f.device}`), fbcon: s.fbconMap, vt: s.vtconsoles };
};

describe('simulated kernel: two GPUs\' DRM and framebuffer numbers, and fbcon between them', () => {
  let host: SimHost;

  beforeEach(async () => {
    // nouveau bound first (card0, renderD128, fb0), then the boot VGA's i915 (card1, renderD129, fb1).
    host = await createSimHost(loadScenario('igpu-nouveau'), { zeroDelays: true });
  });
  afterEach(async () => {
    await host.dispose();
  });

  const unbind = (a: string) => host.io.write(`sys/bus/pci/devices/${a}/driver/unbind`, a);
  const probe = (a: string) => host.io.write('sys/bus/pci/drivers_probe', a);

  it('boots with fbcon on the boot VGA\'s framebuffer although it registered second', () => {
    assert.deepEqual(numbering(host.io), {
      dri: [`card0 ${NOUVEAU}`, `card1 ${IGPU}`, `renderD128 ${NOUVEAU}`, `renderD129 ${IGPU}`],
      fb: [`fb0 ${NOUVEAU}`, `fb1 ${IGPU}`],
      fbcon: [1],
      vt: [
        { name: '(M) frame buffer device', bind: true },
        { name: '(S) dummy device', bind: false },
      ],
    });
  });

  it('a GPU given back while the other stays gets its own numbers again; fbcon never moves', async () => {
    const before = numbering(host.io);
    await unbind(NOUVEAU);
    assert.deepEqual(numbering(host.io).fbcon, [1]);
    await probe(NOUVEAU);
    assert.deepEqual(numbering(host.io), before);
  });

  it('two GPUs given back in the other order swap card, render and fb numbers; fbcon follows the boot VGA to its new number', async () => {
    await unbind(NOUVEAU);
    await unbind(IGPU);
    assert.deepEqual(numbering(host.io).dri, []);
    await probe(IGPU);
    assert.deepEqual(numbering(host.io), {
      dri: [`card0 ${IGPU}`, `renderD128 ${IGPU}`],
      fb: [`fb0 ${IGPU}`],
      fbcon: [0],
      vt: [
        { name: '(M) frame buffer device', bind: true },
        { name: '(S) dummy device', bind: false },
      ],
    });
    await probe(NOUVEAU);
    const after = numbering(host.io);
    assert.deepEqual(after.dri, [`card0 ${IGPU}`, `card1 ${NOUVEAU}`, `renderD128 ${IGPU}`, `renderD129 ${NOUVEAU}`]);
    assert.deepEqual(after.fb, [`fb0 ${IGPU}`, `fb1 ${NOUVEAU}`]);
    assert.deepEqual(after.fbcon, [0], 'fbcon stays on the boot VGA');
  });

  it('the boot VGA\'s framebuffer registering while fbcon sits on another takes fbcon over (the primary)', async () => {
    await unbind(IGPU);
    // fbcon lost its framebuffer; the kernel maps the consoles to the one left, fbcon is unbound.
    assert.deepEqual(numbering(host.io).fbcon, [0]);
    assert.deepEqual(numbering(host.io).vt, [
      { name: '(M) frame buffer device', bind: false },
      { name: '(S) dummy device', bind: true },
    ]);
    await probe(IGPU);
    assert.deepEqual(numbering(host.io).fbcon, [1]);
    assert.deepEqual(numbering(host.io).vt[0], { name: '(M) frame buffer device', bind: true });
  });
});
