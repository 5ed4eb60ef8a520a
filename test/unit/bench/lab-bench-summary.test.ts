// What the lab bench prints for one boot and across boots: the ratio is the engine's median over the
// floor's median less the hand-off, and several boots are summed up by the median of their ratios.

import assert from 'node:assert/strict';
import { acrossBoots, bootRatios } from '../../../bench/lab-bench';
import { emptyBenchTimes, type BenchTimes } from '../../../test/lab/lab-job';

function boot(engine: { detach: number[]; attach: number[] }, floor: { detach: number[]; attach: number[] }, handoff: number[]): BenchTimes {
  return { ...emptyBenchTimes(), engineDetach: engine.detach, engineAttach: engine.attach, floorDetach: floor.detach, floorAttach: floor.attach, floorHandoff: handoff };
}

describe('lab bench summary', () => {
  it("divides the engine's median by the floor's median less the median hand-off", () => {
    const r = bootRatios(boot({ detach: [50, 60, 55], attach: [70, 90, 80] }, { detach: [45, 44, 46], attach: [68, 64, 66] }, [5, 3, 4]));
    assert.deepEqual(r.detach, { engine: 55, floor: 41, ratio: 55 / 41 });
    assert.deepEqual(r.attach, { engine: 80, floor: 62, ratio: 80 / 62 });
  });

  it('sums several boots up by the median of their ratios, their range and how many met the goal', () => {
    const boots = [
      boot({ detach: [50], attach: [60] }, { detach: [50], attach: [50] }, [0]),
      boot({ detach: [60], attach: [65] }, { detach: [50], attach: [50] }, [0]),
      boot({ detach: [75], attach: [70] }, { detach: [50], attach: [50] }, [0]),
    ];
    const lines = acrossBoots(boots);
    assert.equal(lines.length, 5);
    assert.equal(lines[0], 'boot  1: detach 50.0 / 50.0 ms = 1.00, attach 60.0 / 50.0 ms = 1.20');
    assert.equal(lines[3], 'detach: median ratio of 3 boots 1.20 (1.00-1.50), goal <= 1.25 met in 2 of 3');
    assert.equal(lines[4], 'attach: median ratio of 3 boots 1.30 (1.20-1.40), goal <= 1.25 met in 1 of 3');
  });
});
