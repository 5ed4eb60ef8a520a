import assert from 'node:assert/strict';
import { fail, ok, warn } from '../../../src/doctor/check';
import { buildDoctorReport, renderDoctorReport } from '../../../src/doctor/doctor-report';

describe('doctor: the checklist', () => {
  it('marks each line ✔ ✖ or !, puts the fix under it, and counts', () => {
    const report = buildDoctorReport('/', 'win10', [ok('a', 'fine'), fail('b', 'broken', 'mend it')], [warn('c', 'odd', 'look')]);
    assert.equal(report.ok, false);
    assert.deepEqual(report.counts, { ok: 1, warn: 1, fail: 1 });
    assert.equal(
      renderDoctorReport(report),
      'host /\n✔ fine\n✖ broken\n    fix: mend it\n\nVM win10\n! odd\n    fix: look\n\n1 ok, 1 warning, 1 failed: fix the ✖ lines above, then run gpu-hookctl doctor again\n',
    );
  });

  it('warnings alone do not fail', () => {
    const report = buildDoctorReport('/', null, [ok('a', 'fine'), warn('c', 'odd', 'look')], []);
    assert.equal(report.ok, true);
    assert.match(renderDoctorReport(report), /\n1 ok, 1 warning, 0 failed\n$/);
  });
});
