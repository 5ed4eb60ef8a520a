import assert from 'node:assert/strict';
import { assertSimulatorAgrees, runOnSimulator } from './differential';
import { INJECTED_ERRNO } from './guest/tapped-host-io';
import type { RunOutcome, Snapshot } from './lab-job';
import { FAULTS, NON_VIABLE_CULPRIT, NON_VIABLE_GPU } from './lab-scenarios';
import { assertOk, baselineOf, bootedOnce, runNamed, runsStartingWith, SIM_REPLAY_TIMEOUT_MS } from './lab-tier';

/** A sweep failed each write of the transition once, rolled back to `before` each time, then succeeded. */
function assertSweep(sweep: RunOutcome[], before: Snapshot): void {
  const last = sweep[sweep.length - 1];
  assertOk(last);
  const failed = sweep.slice(0, -1);
  assert.equal(failed.length, last.writes.length, 'every write of the transition should have failed once');
  for (const run of failed) {
    const refused = run.writes[(run.failAt ?? 0) - 1];
    assert.ok(refused?.error?.includes(INJECTED_ERRNO), `${run.label}: write ${run.failAt} was not the refused one`);
    assert.ok(run.error, `${run.label} succeeded although write ${run.failAt} was refused`);
    assert.match(run.error.message, /failed at '.+'/, `${run.label}: the error names no step`);
    assert.ok(run.error.message.includes(`/${refused.path}`), `${run.label}: the error does not name ${refused.path}: ${run.error.message}`);
    assert.match(run.error.message, /restored to its previous state/, run.label);
    assert.deepEqual(run.writes.slice(run.failAt).filter((w) => w.error), [], `${run.label}: a rollback write failed`);
    assert.deepEqual(run.end, before, `${run.label}: the host is not as it was before the call`);
  }
}

describe(`lab (real kernel): ${FAULTS.name}: ${FAULTS.proves}`, () => {
  const boot = bootedOnce(FAULTS);

  it(`detach of ${NON_VIABLE_GPU} is refused before any write, naming ${NON_VIABLE_CULPRIT}, and the host is unchanged`, () => {
    const run = runNamed(boot().result, 'non-viable');
    assert.equal(run.ok, false);
    assert.equal(run.error?.code, 'NotViable');
    assert.ok(run.error.message.includes(NON_VIABLE_CULPRIT), run.error.message);
    assert.ok(run.error.message.includes(NON_VIABLE_GPU), run.error.message);
    assert.deepEqual(run.writes, []);
    assert.deepEqual(run.end, baselineOf(boot().result));
  });

  it('a failure at any write of detach rolls the real kernel back to exactly the state before', () => {
    assertSweep(runsStartingWith(boot().result, 'detach@'), baselineOf(boot().result));
  });

  it('a failure at any write of attach rolls back to exactly the detached state; the last attach restores the boot state', () => {
    const detachSweep = runsStartingWith(boot().result, 'detach@');
    const attachSweep = runsStartingWith(boot().result, 'attach@');
    assertSweep(attachSweep, detachSweep[detachSweep.length - 1].end);
    assert.deepEqual(attachSweep[attachSweep.length - 1].end, baselineOf(boot().result));
  });

  it('the same with the functions side by side (the engine\'s default): every write failed once, each rolled back exactly', () => {
    const detachSweep = runsStartingWith(boot().result, 'detach-side@');
    assertSweep(detachSweep, baselineOf(boot().result));
    assert.ok(
      detachSweep.some((r) => r.writes.some((w, i) => i > 0 && w.path.includes('/unbind') && r.writes[i - 1].path.includes('/unbind'))),
      'two unbinds were issued back to back: the functions went side by side',
    );
    const attachSweep = runsStartingWith(boot().result, 'attach-side@');
    assertSweep(attachSweep, detachSweep[detachSweep.length - 1].end);
    assert.deepEqual(attachSweep[attachSweep.length - 1].end, baselineOf(boot().result));
  });

  it(`the simulated host (${FAULTS.simScenario}) goes through the same states, step by step`, async function () {
    this.timeout(SIM_REPLAY_TIMEOUT_MS);
    const sim = await runOnSimulator(FAULTS);
    assertSimulatorAgrees(boot().result, sim);
  });
});
