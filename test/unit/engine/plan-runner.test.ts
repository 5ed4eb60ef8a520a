import assert from 'node:assert/strict';
import type { HostIO } from '../../../src/host/host-io';
import { PlanFailure, runPlan, type StepProgress } from '../../../src/engine/plan-runner';
import { DEFAULT_TIMEOUTS, silentLog, StepRegistry, type StepContext } from '../../../src/engine/step-executor';
import type { StepSpec } from '../../../src/engine/step-spec';

/** A registry whose one kind only records what the runner asks of it; `failing` names steps whose do (or undo) throws. */
function recordingRegistry(failing: { do?: string; verify?: string; undo?: string[] } = {}) {
  const calls: string[] = [];
  const registry = new StepRegistry().register('wait-vfio-group', {
    describe: (s) => `step ${s.group}`,
    async do(_ctx, s) {
      calls.push(`do ${s.group}`);
      if (failing.do === s.group) throw new Error(`do ${s.group} broke`);
    },
    async verify(_ctx, s) {
      calls.push(`verify ${s.group}`);
      if (failing.verify === s.group) throw new Error(`verify ${s.group} broke`);
    },
    async undo(_ctx, s) {
      calls.push(`undo ${s.group}`);
      if (failing.undo?.includes(s.group)) throw new Error(`undo ${s.group} broke`);
    },
  });
  return { calls, registry };
}

const ctx: StepContext = { io: {} as HostIO, log: silentLog, timeouts: DEFAULT_TIMEOUTS };
const plan: StepSpec[] = ['a', 'b', 'c'].map((group) => ({ kind: 'wait-vfio-group', group }));

describe('plan runner', () => {
  it('runs do then verify per step, after the journal hook, and reports every step', async () => {
    const { calls, registry } = recordingRegistry();
    const done = await runPlan(plan, { ctx, registry, beforeStep: async (i) => void calls.push(`journal ${i}`) });
    assert.deepEqual(calls, ['journal 0', 'do a', 'verify a', 'journal 1', 'do b', 'verify b', 'journal 2', 'do c', 'verify c']);
    assert.deepEqual(done.map((s) => s.description), ['step a', 'step b', 'step c']);
  });

  it('on a failed do undoes that step and the earlier ones in reverse', async () => {
    const { calls, registry } = recordingRegistry({ do: 'b' });
    const failure = await runPlan(plan, { ctx, registry }).then(
      () => assert.fail('the plan should fail'),
      (e: unknown) => e as PlanFailure,
    );
    assert.ok(failure instanceof PlanFailure);
    assert.equal(failure.failed.description, 'step b');
    assert.deepEqual(failure.rollbackFailures, []);
    assert.deepEqual(calls, ['do a', 'verify a', 'do b', 'undo b', 'undo a']);
  });

  it('treats a failed verify like a failed do', async () => {
    const { calls, registry } = recordingRegistry({ verify: 'a' });
    await assert.rejects(runPlan(plan, { ctx, registry }), PlanFailure);
    assert.deepEqual(calls, ['do a', 'verify a', 'undo a']);
  });

  it('goes on undoing past a failed undo and reports each failure', async () => {
    const { calls, registry } = recordingRegistry({ do: 'c', undo: ['b'] });
    const failure = (await runPlan(plan, { ctx, registry }).catch((e: unknown) => e)) as PlanFailure;
    assert.deepEqual(calls.slice(-3), ['undo c', 'undo b', 'undo a']);
    assert.deepEqual(failure.rollbackFailures.map((f) => f.description), ['step b']);
  });

  it('a journal that cannot be written stops the plan before the step runs', async () => {
    const { calls, registry } = recordingRegistry();
    const beforeStep = async (i: number): Promise<void> => {
      if (i === 1) throw new Error('disk full');
    };
    await assert.rejects(runPlan(plan, { ctx, registry, beforeStep }), PlanFailure);
    assert.deepEqual(calls, ['do a', 'verify a', 'undo b', 'undo a']);
  });

  it('emits started and finished events with the step and its time', async () => {
    const { registry } = recordingRegistry();
    const events: StepProgress[] = [];
    await runPlan(plan.slice(0, 1), { ctx, registry, emit: (e) => events.push(e) });
    assert.deepEqual(events.map((e) => `${e.phase} ${e.status} ${e.index}/${e.total} ${e.description}`), [
      'do started 0/1 step a',
      'do finished 0/1 step a',
    ]);
    assert.equal(typeof events[1].ms, 'number');
  });
});
