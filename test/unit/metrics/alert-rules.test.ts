// The example alert rules name only series gpu-hookd writes (or node_exporter's own), with label values
// those series take, and journal MESSAGE_IDs the daemon logs: a renamed metric breaks this test, not
// an operator's alert.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MODES, metricFamilies, NO_TRANSITIONS } from '../../../src/metrics/gpu-metrics';
import { TRANSITION_MESSAGE_IDS } from '../../../src/daemon/transition-events';

const RULES = fs.readFileSync(path.resolve(__dirname, '../../../../packaging/prometheus/gpu-hookd.rules.yml'), 'utf8');

describe('the example alert rules', () => {
  const families = metricFamilies({ version: '0', nodeVersion: '0', gpus: [], stats: NO_TRANSITIONS });

  it('name only families gpu-hookd writes', () => {
    const written = new Set(families.flatMap((f) => (f.type === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => f.name + s) : [f.name])));
    const named = [...new Set(RULES.match(/\bgpu_hookd_[a-z_]+/g))];
    assert.ok(named.length >= 5);
    for (const name of named) assert.ok(written.has(name), `${name} is not a series gpu-hookd writes`);
  });

  it('select modes, operations and results the families have', () => {
    for (const [, values] of RULES.matchAll(/mode=~?"([^"]+)"/g)) for (const m of values.split('|')) assert.ok((MODES as readonly string[]).includes(m), `no mode ${m}`);
    for (const [, result] of RULES.matchAll(/result="([^"]+)"/g)) assert.ok(['success', 'failure'].includes(result), `no result ${result}`);
  });

  it('point at journal MESSAGE_IDs the daemon logs', () => {
    const ids = [...RULES.matchAll(/MESSAGE_ID=([0-9a-f]+)/g)].map((m) => m[1]);
    assert.ok(ids.length > 0);
    for (const id of ids) assert.ok((Object.values(TRANSITION_MESSAGE_IDS) as string[]).includes(id), `${id} is no MESSAGE_ID of gpu-hookd`);
  });

  it('give every alert a name, an expression and a summary', () => {
    const alerts = RULES.split(/\n\s+- alert: /).slice(1);
    assert.ok(alerts.length >= 6);
    for (const alert of alerts) {
      assert.match(alert, /^[A-Z][A-Za-z]+\n/);
      assert.match(alert, /\n\s+expr: /);
      assert.match(alert, /\n\s+summary: /);
    }
  });
});
