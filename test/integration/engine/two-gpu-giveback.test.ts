// Two GPUs given back: in the order of their numbers before the detach each gets its card, render
// node and framebuffer back; in the other order the kernel swaps them, and the attach says so in one
// sentence (log and report). On the simulated two-Radeon host, whose numbering the lab checks.

import assert from 'node:assert/strict';
import { snapshotHost } from '../../../src/sim/snapshot';
import { assertHostRestored, simEngine, type SimEngine } from './sim-engine';

const DESKTOP = '0000:0c:00.0';
const SECOND = '0000:0f:00.0';

describe('two GPUs given back to the host', () => {
  let sim: SimEngine;

  beforeEach(async () => {
    sim = await simEngine('two-amd');
  });
  afterEach(async () => {
    await sim.dispose();
  });

  it('records each GPU\'s nodes at detach and gives both back in boot order: the host exactly as before, nothing to say', async () => {
    const before = snapshotHost(sim.host.io);
    await sim.engine.detach(SECOND);
    await sim.engine.detach(DESKTOP);
    assert.deepEqual(sim.engine.ledger.load(DESKTOP)?.displayNodes, ['/dev/dri/card0', '/dev/dri/renderD128', '/dev/fb0']);
    assert.deepEqual(sim.engine.ledger.load(SECOND)?.displayNodes, ['/dev/dri/card1', '/dev/dri/renderD129', '/dev/fb1']);
    const order = sim.engine.inBootOrder([SECOND, DESKTOP]);
    assert.deepEqual(order, [DESKTOP, SECOND]);
    for (const gpu of order) assert.equal((await sim.engine.attach(gpu)).notes, undefined, gpu);
    assertHostRestored(snapshotHost(sim.host.io), before);
  });

  it('given back in the other order, each GPU says in one sentence under which numbers it came back', async () => {
    await sim.engine.detach(DESKTOP);
    await sim.engine.detach(SECOND);
    const second = await sim.engine.attach(SECOND);
    assert.deepEqual(second.notes, [
      `${SECOND} came back as card0, renderD128, fb0 where it was card1, renderD129, fb1 before its detach (the kernel gives each GPU the lowest ` +
        'free numbers as its driver binds, and another GPU came back or stayed in between), so what is configured for card1 or renderD129 or fb1 ' +
        `now reaches another GPU or none: name GPUs by path (/dev/dri/by-path/pci-${SECOND}-card) or reboot to get the boot numbering back`,
    ]);
    const desktop = await sim.engine.attach(DESKTOP);
    assert.match(desktop.notes?.[0] ?? '', new RegExp(`^${DESKTOP} came back as card1, renderD129, fb1 where it was card0, renderD128, fb0 before its detach`));
    const dri = snapshotHost(sim.host.io).dri;
    assert.deepEqual(dri.find((n) => n.node === 'card0')?.device, SECOND, 'the swap the sentences describe');
  });

  it('one GPU given back while the other stays on vfio-pci keeps its numbers', async () => {
    await sim.engine.detach(SECOND);
    await sim.engine.detach(DESKTOP);
    assert.equal((await sim.engine.attach(DESKTOP)).notes, undefined);
  });
});
