// Two display devices on a real kernel: the boot VGA (01:00.0, fb0, card0, fbcon) stays and a second
// display with a framebuffer of its own (02:00.0, fb1, card1) goes with the handover asked for, as a
// VM's prepare asks for it. The guest has no system bus, so a handover that wanted the display
// manager stopped would fail: the run passing is the kernel's proof that the decision looked at what
// uses the second display only. Then the numbering of two GPUs given back, in boot order and not.

import assert from 'node:assert/strict';
import { assertSimulatorAgrees, runOnSimulator } from './differential';
import type { Snapshot } from './lab-job';
import { SECOND_GPU, TWO_DISPLAY } from './lab-scenarios';
import { assertOk, baselineOf, bootedOnce, fbconOf, runNamed, SIM_REPLAY_TIMEOUT_MS } from './lab-tier';
import { GUEST_GPU } from './runner/qemu-machine';

/** What belongs to `device`: its DRM nodes and framebuffers, by number. */
function nodesOf(s: Snapshot, device: string): string[] {
  return [...s.dri.filter((n) => n.device === device).map((n) => n.node), ...s.framebuffers.filter((f) => f.device === device).map((f) => `fb${f.fb}`)];
}

describe(`lab (real kernel): ${TWO_DISPLAY.name}: ${TWO_DISPLAY.proves}`, () => {
  const boot = bootedOnce(TWO_DISPLAY);

  it('boots with card0 and fb0 on the boot VGA, card1 and fb1 on the second display, fbcon on fb0 (FBIOGET_CON2FBMAP)', () => {
    const baseline = baselineOf(boot().result);
    assert.deepEqual(nodesOf(baseline, GUEST_GPU), ['card0', 'fb0']);
    assert.deepEqual(nodesOf(baseline, SECOND_GPU), ['card1', 'fb1']);
    assert.deepEqual(baseline.fbconMap, [0]);
    assert.deepEqual(fbconOf(baseline), { name: '(M) frame buffer device', bind: true });
  });

  it('the second display goes with the handover asked for and nothing of the first moves: its nodes, framebuffer and fbcon stay as booted', () => {
    const baseline = baselineOf(boot().result);
    const run = runNamed(boot().result, 'handover of the second');
    assertOk(run);
    assert.deepEqual(run.steps.filter((s) => /vtconsole|framebuffer|display-manager|holds/.test(s.description)), []);
    for (const { snapshot } of run.snapshots) {
      assert.deepEqual(nodesOf(snapshot, GUEST_GPU), ['card0', 'fb0']);
      assert.deepEqual(snapshot.fbconMap, [0]);
      assert.deepEqual(fbconOf(snapshot), { name: '(M) frame buffer device', bind: true });
    }
    assert.deepEqual(nodesOf(run.end, SECOND_GPU), []);
    const back = runNamed(boot().result, 'second back');
    assertOk(back);
    assert.equal(back.notes, undefined);
    assert.deepEqual(back.end, baseline);
  });

  it('both given back in boot order: the host exactly as booted, nothing to say', () => {
    for (const label of ['first back (boot order)', 'second back (boot order)']) {
      assertOk(runNamed(boot().result, label));
      assert.equal(runNamed(boot().result, label).notes, undefined, label);
    }
    assert.deepEqual(runNamed(boot().result, 'second back (boot order)').end, baselineOf(boot().result));
  });

  it('given back in the other order, the kernel swaps card and fb numbers, fbcon follows the boot VGA to fb1, and each attach says so', () => {
    const second = runNamed(boot().result, 'second back first');
    assertOk(second);
    assert.deepEqual(nodesOf(second.end, SECOND_GPU), ['card0', 'fb0']);
    assert.match(second.notes?.[0] ?? '', new RegExp(`^${SECOND_GPU} came back as card0, fb0 where it was card1, fb1 before its detach`));
    const first = runNamed(boot().result, 'first back last');
    assertOk(first);
    assert.deepEqual(nodesOf(first.end, GUEST_GPU), ['card1', 'fb1']);
    assert.match(first.notes?.[0] ?? '', new RegExp(`^${GUEST_GPU} came back as card1, fb1 where it was card0, fb0 before its detach`));
    assert.deepEqual(first.end.fbconMap, [1]);
    assert.deepEqual(fbconOf(first.end), { name: '(M) frame buffer device', bind: true });
  });

  it('the simulated twin agrees with the kernel at every step', async function () {
    this.timeout(SIM_REPLAY_TIMEOUT_MS);
    assertSimulatorAgrees(boot().result, await runOnSimulator(TWO_DISPLAY));
  });
});
