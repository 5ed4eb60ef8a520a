// The console's bind is read back too: a handover whose detach fails after fbcon's vtconsole was
// unbound binds it again on the way back, and when the kernel does not follow (the simulator's
// "ignore" fault) the rollback says so in one sentence; the desktop still comes back, and the journal
// stays so that the next start binds the console.

import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/engine-error';
import { TransitionEngine } from '../../../src/engine/transition-engine';
import { findVtconsole } from '../../../src/host/consoles';
import { clearFaults, injectFault } from '../../../src/sim/faults';
import { DM_UNIT } from '../../../src/sim/desktop/simulated-desktop';
import { journalFiles } from '../../integration/engine/sim-engine';
import { FBCON, GPU, handoverSuite, SETTINGS, TIMEOUTS } from './handover-host';

describe('the console bind read back on the way back', function () {
  this.timeout(30_000);
  const suite = handoverSuite();

  it('says, in the detach\'s error, that fbcon\'s vtconsole is still unbound after writing 1; the next start binds it', async () => {
    const host = await suite.host();
    const vtcon = findVtconsole(host.sim.io, FBCON);
    assert.ok(vtcon?.bound, 'fbcon holds the console at boot');
    // The GPU's first write after the console's unbind fails, while its framebuffer is still there.
    injectFault(host.sim.root, { path: `sys/bus/pci/devices/${GPU}/driver_override`, effect: { kind: 'fail', errno: 'EIO' } });
    injectFault(host.sim.root, { path: `sys/class/vtconsole/vtcon${vtcon.index}/bind`, value: '1', effect: { kind: 'ignore' } });

    const e = await host.engine.detach(GPU, { owner: 'win10', handover: SETTINGS }).then(
      () => assert.fail('the detach should fail'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof EngineError);
    assert.ok(
      e.message.includes(
        `rolling back then failed too at 'unbind vtconsole "${FBCON}"': the undo's writes returned but the host did not follow: ` +
          `vtconsole "${FBCON}" (vtcon${vtcon.index}) is still unbound after writing 1`,
      ),
      e.message,
    );
    assert.equal(findVtconsole(host.sim.io, FBCON)?.bound, false);
    assert.equal((await host.desktop.systemd.unit(DM_UNIT)).activeState, 'active', 'the display manager was started again');
    assert.equal(journalFiles(host.stateDir).length, 1);

    clearFaults(host.sim.root);
    const restarted = new TransitionEngine({ io: host.sim.io, stateDir: host.stateDir, timeouts: TIMEOUTS, services: host.services });
    assert.deepEqual((await restarted.recover()).transitions.map((t) => t.outcome), ['restored']);
    assert.equal(findVtconsole(host.sim.io, FBCON)?.bound, true, 'the console is fbcon\'s again');
  });
});
