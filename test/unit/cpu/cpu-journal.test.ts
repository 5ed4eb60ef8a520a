import assert from 'node:assert/strict';
import * as path from 'node:path';
import { cpuJournalFile, parseCpuJournal, type CpuJournalHeader } from '../../../src/cpu/cpu-journal';

const header: CpuJournalHeader = {
  version: 1,
  vm: 'win10',
  stage: 'prepare',
  bootId: 'b',
  layout: { vm: 'win10', source: 'auto', threadPins: null, vmCpus: [1], housekeeping: [0], guestTopology: null, notes: [] },
  plan: [
    { kind: 'cpu-governor', cpu: 1, governor: 'performance', previous: 'powersave' },
    { kind: 'irq-affinity', irq: 9, cpus: [0], previous: [0, 1] },
  ],
  startedAt: '2025-01-01T00:00:00.000Z',
};
const lines = (...l: object[]): string => l.map((x) => `${JSON.stringify(x)}\n`).join('');

describe('the CPU record file', () => {
  it('reads the step in flight from the last complete mark, ignoring a torn last line', () => {
    const entry = parseCpuJournal(lines(header, { inFlight: 0 }, { inFlight: 1 }).slice(0, -1) + '{"infl');
    assert.equal(entry.inFlight, 0);
    assert.equal(entry.applied, false);
  });

  it('counts every step as done once the plan was applied', () => {
    const entry = parseCpuJournal(lines(header, { inFlight: 0 }, { applied: true }));
    assert.equal(entry.applied, true);
    assert.equal(entry.inFlight, 1);
  });

  it('ignores marks outside the plan and refuses a file that is not a record', () => {
    assert.equal(parseCpuJournal(lines(header, { inFlight: 7 })).inFlight, -1);
    assert.throws(() => parseCpuJournal(lines({ version: 2 })), /not a gpu-hookd CPU record of this version/);
    assert.throws(() => parseCpuJournal('{"version":1'), /not a gpu-hookd CPU record/);
  });

  it('gives every domain name a file of its own in the state directory, even "..", "." and names with "%"', () => {
    const names = ['win10', '..', '.', 'a%2Eb', 'a.b', 'ü ß'];
    const files = names.map((n) => cpuJournalFile('/var/lib/gpu-hookd', n, 'prepare'));
    assert.equal(new Set(files).size, names.length);
    for (const f of files) assert.equal(path.dirname(f), '/var/lib/gpu-hookd/cpu');
    assert.equal(path.basename(cpuJournalFile('/s', '..', 'started')), '%2E%2E.started.json');
  });
});
