import assert from 'node:assert/strict';
import { parseJournal, type JournalEntry } from '../../../src/engine/journal';

const entry: JournalEntry = {
  version: 1,
  id: 'abc',
  kind: 'detach',
  gpu: '0000:01:00.0',
  owner: 'win10',
  plan: [{ kind: 'probe-driver', device: '0000:01:00.0', expect: 'vfio-pci' }],
  inFlight: 0,
  startedAt: '2025-01-01T00:00:00.000Z',
  bootId: null,
  createdRecord: true,
};

describe('journal parsing', () => {
  it('reads back what was written', () => {
    assert.deepEqual(parseJournal(JSON.stringify(entry)), entry);
  });

  for (const [what, bad] of [
    ['a step index past the plan', { ...entry, inFlight: 1 }],
    ['a malformed GPU address', { ...entry, gpu: '../../etc' }],
    ['another version', { ...entry, version: 2 }],
    ['a step without kind', { ...entry, plan: [{ device: '0000:01:00.0' }] }],
  ] as const) {
    it(`refuses a journal with ${what}`, () => {
      assert.throws(() => parseJournal(JSON.stringify(bad)), /not a gpu-hookd journal/);
    });
  }
});
