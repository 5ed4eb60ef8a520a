import assert from 'node:assert/strict';
import { escapeLabelValue, histogramSamples, renderExposition } from '../../../src/metrics/exposition';

describe('Prometheus text exposition', () => {
  it('writes HELP and TYPE before each family\'s samples, labels in the order given', () => {
    const text = renderExposition([
      { name: 'a_total', help: 'As counted.', type: 'counter', samples: [{ labels: { gpu: '0000:01:00.0', result: 'success' }, value: 3 }] },
      { name: 'b', help: 'Bees.', type: 'gauge', samples: [{ labels: {}, value: 0.5 }, { labels: { x: 'y' }, value: -2 }] },
    ]);
    assert.equal(
      text,
      [
        '# HELP a_total As counted.',
        '# TYPE a_total counter',
        'a_total{gpu="0000:01:00.0",result="success"} 3',
        '# HELP b Bees.',
        '# TYPE b gauge',
        'b 0.5',
        'b{x="y"} -2',
        '',
      ].join('\n'),
    );
  });

  it('keeps HELP and TYPE for a family without samples', () => {
    assert.equal(renderExposition([{ name: 'empty', help: 'None yet.', type: 'gauge', samples: [] }]), '# HELP empty None yet.\n# TYPE empty gauge\n');
  });

  it('escapes backslash, double quote and newline in label values, and backslash and newline in HELP', () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    const text = renderExposition([{ name: 'm', help: 'line one\nback\\slash "quoted"', type: 'gauge', samples: [{ labels: { vm: 'win "10"\\x\ny' }, value: 1 }] }]);
    assert.equal(text, '# HELP m line one\\nback\\\\slash "quoted"\n# TYPE m gauge\nm{vm="win \\"10\\"\\\\x\\ny"} 1\n');
    // Every sample stays on one line whatever the value holds.
    assert.equal(text.split('\n').length, 4);
  });

  it('writes infinities and NaN as Prometheus spells them', () => {
    const text = renderExposition([{ name: 'v', help: 'h', type: 'gauge', samples: [Infinity, -Infinity, NaN].map((value) => ({ labels: {}, value })) }]);
    assert.deepEqual(text.trimEnd().split('\n').slice(2), ['v +Inf', 'v -Inf', 'v NaN']);
  });

  it('refuses a metric name, a label name or a family that Prometheus would reject', () => {
    const family = (name: string, labels: Record<string, string> = {}) => ({ name, help: 'h', type: 'gauge' as const, samples: [{ labels, value: 1 }] });
    assert.throws(() => renderExposition([family('gpu-hookd_up')]), /"gpu-hookd_up" is not a valid Prometheus metric name/);
    assert.throws(() => renderExposition([family('0up')]), /not a valid Prometheus metric name/);
    assert.throws(() => renderExposition([family('up', { 'pci.address': 'x' })]), /"pci.address" is not a valid Prometheus label name/);
    assert.throws(() => renderExposition([family('up', { __name__: 'x' })]), /"__name__" is not a valid Prometheus label name/);
    assert.throws(() => renderExposition([family('up'), family('up')]), /metric family up is given twice/);
  });

  it('makes a histogram\'s buckets cumulative up to +Inf, with its sum and count', () => {
    const samples = histogramSamples({ op: 'detach' }, { bounds: [0.1, 1], counts: [2, 0, 1], sum: 3.5 });
    assert.deepEqual(samples, [
      { suffix: '_bucket', labels: { op: 'detach', le: '0.1' }, value: 2 },
      { suffix: '_bucket', labels: { op: 'detach', le: '1' }, value: 2 },
      { suffix: '_bucket', labels: { op: 'detach', le: '+Inf' }, value: 3 },
      { suffix: '_sum', labels: { op: 'detach' }, value: 3.5 },
      { suffix: '_count', labels: { op: 'detach' }, value: 3 },
    ]);
    assert.match(renderExposition([{ name: 'd_seconds', help: 'h', type: 'histogram', samples }]), /^d_seconds_bucket\{op="detach",le="\+Inf"\} 3$/m);
    assert.throws(() => histogramSamples({}, { bounds: [1], counts: [1], sum: 1 }), /one count per bound and one above the last/);
  });
});
