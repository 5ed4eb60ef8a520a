import assert from 'node:assert/strict';
import { planWaves } from '../../../src/engine/plan-waves';
import type { StepSpec } from '../../../src/engine/step-spec';

const A = '0000:01:00.0';
const B = '0000:01:00.1';
const override = (device: string): StepSpec => ({ kind: 'set-override', device, value: 'vfio-pci', previous: null });
const unbind = (device: string): StepSpec => ({ kind: 'unbind-driver', device, driver: 'x', restoreOverride: null });
const probe = (device: string): StepSpec => ({ kind: 'probe-driver', device, expect: 'vfio-pci' });
const barrier: StepSpec = { kind: 'wait-vfio-group', group: '6' };
const local = (s: StepSpec): boolean => s.kind !== 'wait-vfio-group' && s.kind !== 'load-module';

describe('plan waves', () => {
  it('puts each function of a group move in its own run of one wave, and any other step alone', () => {
    const plan = [{ kind: 'load-module', module: 'vfio_pci', driver: 'vfio-pci', keepLoaded: true } as StepSpec, override(A), unbind(A), probe(A), override(B), probe(B), barrier];
    assert.deepEqual(planWaves(plan, local), [
      { first: 0, last: 0, runs: [{ first: 0, last: 0 }] },
      { first: 1, last: 5, runs: [{ first: 1, last: 3 }, { first: 4, last: 5 }] },
      { first: 6, last: 6, runs: [{ first: 6, last: 6 }] },
    ]);
  });

  it('starts a new wave when a function comes back, so its steps never overtake each other', () => {
    const plan = [override(A), override(B), unbind(A)];
    assert.deepEqual(planWaves(plan, local), [
      { first: 0, last: 1, runs: [{ first: 0, last: 0 }, { first: 1, last: 1 }] },
      { first: 2, last: 2, runs: [{ first: 2, last: 2 }] },
    ]);
  });

  it('runs everything in order when no step is function-local', () => {
    const plan = [override(A), override(B)];
    assert.deepEqual(planWaves(plan, () => false), [
      { first: 0, last: 0, runs: [{ first: 0, last: 0 }] },
      { first: 1, last: 1, runs: [{ first: 1, last: 1 }] },
    ]);
    assert.deepEqual(planWaves([], local), []);
  });
});
