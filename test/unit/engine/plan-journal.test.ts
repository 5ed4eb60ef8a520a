import assert from 'node:assert/strict';
import { fromEarlierBoot, isPlanJournalHeader, parsePlanJournal, type PlanJournalHeader } from '../../../src/engine/plan-journal';

const header: PlanJournalHeader = { version: 1, plan: [{ kind: 'wait-vfio-group', group: '1' }, { kind: 'wait-vfio-group', group: '2' }], bootId: 'b' };
const text = (...lines: string[]): string => [JSON.stringify(header), ...lines].join('\n');

describe('the plan journal under GPU transitions and CPU stages', () => {
  it('reads the furthest mark and "applied", ignoring a torn last line and marks outside the plan', () => {
    assert.deepEqual(parsePlanJournal(text('{"inFlight":0}', '{"inFlight":1}', ''), isPlanJournalHeader, 'no').marks, { inFlight: 1, applied: false });
    assert.deepEqual(parsePlanJournal(text('{"inFlight":0}', '{"inFlight":9}', '{"appl'), isPlanJournalHeader, 'no').marks, { inFlight: 0, applied: false });
    assert.deepEqual(parsePlanJournal(text('{"inFlight":1}', '{"applied":true}', ''), isPlanJournalHeader, 'no').marks, { inFlight: 1, applied: true });
    assert.deepEqual(parsePlanJournal(text(''), isPlanJournalHeader, 'no').marks, { inFlight: -1, applied: false });
  });

  it('refuses, with the owner\'s sentence, a header that is not its own', () => {
    assert.throws(() => parsePlanJournal('{"version":2,"plan":[]}\n', isPlanJournalHeader, 'not ours'), /^Error: not ours$/);
    assert.throws(() => parsePlanJournal('{"version":1,"plan":[{}],"bootId":null}\n', isPlanJournalHeader, 'not ours'), /not ours/);
  });

  it('calls a journal of another boot stale, and one of an unknown boot this boot\'s', () => {
    assert.equal(fromEarlierBoot({ bootId: 'a' }, 'b'), true);
    assert.equal(fromEarlierBoot({ bootId: 'b' }, 'b'), false);
    assert.equal(fromEarlierBoot({ bootId: null }, 'b'), false);
    assert.equal(fromEarlierBoot({ bootId: 'a' }, null), false);
  });
});
