import assert from 'node:assert/strict';
import { coverageEnd, marksOf, parseJournal, type JournalHeader } from '../../../src/engine/journal';
import type { StepSpec } from '../../../src/engine/step-spec';

const header: JournalHeader = {
  version: 1,
  id: 'abc',
  kind: 'detach',
  gpu: '0000:01:00.0',
  owner: 'win10',
  plan: ['a', 'b', 'c'].map((group) => ({ kind: 'wait-vfio-group', group })),
  startedAt: '2025-01-01T00:00:00.000Z',
  bootId: null,
  createdRecord: true,
};
const journal = (...marks: string[]): string => [JSON.stringify(header), ...marks].join('\n');

describe('journal parsing', () => {
  it('reads the header and the last step in flight', () => {
    assert.deepEqual(parseJournal(journal('{"inFlight":0}', '{"inFlight":1}', '')), { ...header, inFlight: 1 });
  });

  it('ignores a torn last line that a crash mid-append left', () => {
    assert.equal(parseJournal(journal('{"inFlight":0}', '{"inFlight":1}', '{"inFl')).inFlight, 1);
    assert.equal(parseJournal(journal('{"inFlight":0}', '{"inFlight":2}')).inFlight, 0);
  });

  it('assumes every step may have started when no mark is readable', () => {
    assert.equal(parseJournal(journal('{"inFlight":7}', '')).inFlight, 2);
  });

  for (const [what, bad] of [
    ['a malformed GPU address', { ...header, gpu: '../../etc' }],
    ['another version', { ...header, version: 2 }],
    ['a step without kind', { ...header, plan: [{ device: '0000:01:00.0' }] }],
    ['an empty plan', { ...header, plan: [] }],
  ] as const) {
    it(`refuses a journal with ${what}`, () => {
      assert.throws(() => parseJournal(`${JSON.stringify(bad)}\n{"inFlight":0}\n`), /not a gpu-hookd journal/);
    });
  }

  it('refuses a header cut short', () => {
    assert.throws(() => parseJournal(JSON.stringify(header).slice(0, 40)), /not a gpu-hookd journal/);
  });
});

describe('journal coverage', () => {
  it('covers the whole group move (the steps of every function, in any wave) with one mark, and each step without a device alone', () => {
    const plan = [
      { kind: 'load-module', module: 'vfio_pci', driver: 'vfio-pci', keepLoaded: true },
      { kind: 'set-override', device: '0000:01:00.0', value: 'vfio-pci', previous: null },
      { kind: 'unbind-driver', device: '0000:01:00.0', driver: 'nouveau', restoreOverride: null },
      { kind: 'probe-driver', device: '0000:01:00.0', expect: 'vfio-pci' },
      { kind: 'set-override', device: '0000:01:00.1', value: 'vfio-pci', previous: null },
      { kind: 'wait-vfio-group', group: '13' },
    ] as const satisfies readonly StepSpec[];
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => coverageEnd(plan, i)), [0, 4, 4, 4, 4, 5]);
    assert.equal(marksOf(plan), 3);
  });

  it('covers an attach whose consumers are probed in a later wave than the GPU with the one mark', () => {
    const plan = [
      { kind: 'set-override', device: '0000:01:00.0', value: null, previous: 'vfio-pci' },
      { kind: 'unbind-driver', device: '0000:01:00.0', driver: 'vfio-pci', restoreOverride: 'vfio-pci' },
      { kind: 'probe-driver', device: '0000:01:00.0', expect: 'nouveau' },
      { kind: 'set-override', device: '0000:01:00.1', value: null, previous: 'vfio-pci' },
      { kind: 'unbind-driver', device: '0000:01:00.1', driver: 'vfio-pci', restoreOverride: 'vfio-pci' },
      { kind: 'probe-driver', device: '0000:01:00.1', expect: 'snd_hda_intel' },
      { kind: 'start-unit', unit: 'display-manager.service' },
    ] as const satisfies readonly StepSpec[];
    assert.deepEqual(plan.map((_, i) => coverageEnd(plan, i)), [5, 5, 5, 5, 5, 5, 6]);
    assert.equal(marksOf(plan), 2);
  });
});
