import assert from 'node:assert/strict';
import type { HostIO } from '../../../src/host/host-io';
import { messageOf } from '../../../src/engine/engine-error';
import { PlanFailure, runPlan, type StepProgress } from '../../../src/engine/plan-runner';
import { DEFAULT_TIMEOUTS, silentLog, StepRegistry, type StepContext } from '../../../src/engine/step-executor';
import type { StepSpec } from '../../../src/engine/step-spec';

/** A registry whose one kind only records what the runner asks of it; `failing` names steps whose do (or undo) throws. */
function recordingRegistry(failing: { do?: string; verify?: string; undo?: string[]; undone?: string[] } = {}) {
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
    async undone(_ctx, s) {
      if (failing.undone?.includes(s.group)) throw new Error(`group ${s.group} still reads moved`);
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

  it('reads back after each undo: one the host did not follow is a failure saying so, and the rest are still undone', async () => {
    const { calls, registry } = recordingRegistry({ do: 'c', undone: ['b'] });
    const failure = await runPlan(plan, { ctx, registry }).catch((e: unknown) => e);
    assert.ok(failure instanceof PlanFailure);
    assert.deepEqual(failure.rollbackFailures.map((f) => [f.description, messageOf(f.cause)]), [
      ['step b', "the undo's writes returned but the host did not follow: group b still reads moved"],
    ]);
    assert.deepEqual(calls.slice(-3), ['undo c', 'undo b', 'undo a']);
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

  describe('runs of different functions', () => {
    /** set-override steps that run side by side: each do waits until released by the test. */
    function concurrentRegistry(failing: Record<string, Error> = {}) {
      const calls: string[] = [];
      const gates = new Map<string, () => void>();
      const registry = new StepRegistry()
        .register('set-override', {
          describe: (s) => `${s.device} ${s.value}`,
          do: (_ctx, s) =>
            new Promise<void>((resolve, reject) => {
              calls.push(`do ${s.device} ${s.value}`);
              gates.set(`${s.device} ${s.value}`, () => (failing[`${s.device} ${s.value}`] ? reject(failing[`${s.device} ${s.value}`]) : resolve()));
            }),
          async verify() {},
          async undo(_ctx, s) {
            calls.push(`undo ${s.device} ${s.value}`);
          },
          async undone() {},
          functionLocal: true,
        })
        .register('wait-vfio-group', {
          describe: () => 'barrier',
          async do() {
            calls.push('do barrier');
          },
          async verify() {},
          async undo() {
            calls.push('undo barrier');
          },
          async undone() {},
        });
      const release = async (key: string): Promise<void> => {
        for (let i = 0; i < 50 && !gates.has(key); i++) await new Promise((r) => setImmediate(r));
        const open = gates.get(key);
        assert.ok(open, `${key} never started; calls: ${calls.join(', ')}`);
        gates.delete(key);
        open();
        await new Promise((r) => setImmediate(r));
      };
      return { calls, registry, release };
    }
    const step = (device: string, value: string): StepSpec => ({ kind: 'set-override', device, value, previous: null });
    const twoRuns: StepSpec[] = [step('A', '1'), step('A', '2'), step('B', '1'), step('B', '2'), { kind: 'wait-vfio-group', group: '6' }];

    it('start together, each in its own order, with one journal mark for the wave, and the next wave waits for both', async () => {
      const { calls, registry, release } = concurrentRegistry();
      const marks: number[] = [];
      const running = runPlan(twoRuns, { ctx, registry, beforeStep: async (i) => void marks.push(i) });
      await release('A 1');
      assert.deepEqual(calls, ['do A 1', 'do B 1', 'do A 2'], 'B started before A ended; A 2 waited for A 1');
      await release('A 2');
      assert.ok(!calls.includes('do barrier'), 'the barrier waits for B');
      await release('B 1');
      await release('B 2');
      const done = await running;
      assert.deepEqual(marks, [3, 4]);
      assert.deepEqual(done.map((s) => s.description), ['A 1', 'A 2', 'B 1', 'B 2', 'barrier'], 'reported in plan order');
    });

    it('when one fails, the other ends its step and starts no more; then the whole wave is undone in reverse', async () => {
      const { calls, registry, release } = concurrentRegistry({ 'A 1': new Error('A broke') });
      const running = runPlan(twoRuns, { ctx, registry }).then(
        () => assert.fail('the plan should fail'),
        (e: unknown) => e as PlanFailure,
      );
      await release('A 1');
      assert.deepEqual(calls, ['do A 1', 'do B 1'], 'nothing undone while B is still in its step');
      await release('B 1');
      const failure = await running;
      assert.equal(failure.failed.description, 'A 1');
      assert.deepEqual(failure.done.map((s) => s.description), ['B 1']);
      assert.deepEqual(calls, ['do A 1', 'do B 1', 'undo B 2', 'undo B 1', 'undo A 2', 'undo A 1']);
    });

    it('when both fail, names the failure that comes first in the plan, whichever failed first in time', async () => {
      const { registry, release } = concurrentRegistry({ 'A 1': new Error('A broke'), 'B 1': new Error('B broke') });
      const running = runPlan(twoRuns, { ctx, registry }).then(
        () => assert.fail('the plan should fail'),
        (e: unknown) => e as PlanFailure,
      );
      await release('B 1');
      await release('A 1');
      const failure = await running;
      assert.equal(failure.failed.description, 'A 1');
      assert.equal((failure.failed.cause as Error).message, 'A broke');
    });
  });
});
