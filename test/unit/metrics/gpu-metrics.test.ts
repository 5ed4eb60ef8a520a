import assert from 'node:assert/strict';
import { renderExposition, type MetricFamily } from '../../../src/metrics/exposition';
import { DURATION_BOUNDS, metricFamilies, NO_TRANSITIONS, recordTransition, type GpuState, type MetricsInput } from '../../../src/metrics/gpu-metrics';

const RTX: GpuState = {
  address: '0000:01:00.0',
  name: 'NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]',
  iommuGroup: '13',
  bootVga: true,
  mode: 'vfio',
  owner: 'win10',
  viable: true,
  functions: 4,
  vfioFunctions: 4,
};
const SECOND: GpuState = { ...RTX, address: '0000:02:00.0', name: 'AMD "Navi"', iommuGroup: '14', bootVga: false, mode: 'host', owner: '', viable: false, vfioFunctions: 0 };

function input(over: Partial<MetricsInput> = {}): MetricsInput {
  return { version: '0.1.0', nodeVersion: '20.19.0', gpus: [SECOND, RTX], stats: NO_TRANSITIONS, ...over };
}

function family(families: MetricFamily[], name: string): MetricFamily {
  const found = families.find((f) => f.name === name);
  assert.ok(found, `no family ${name}`);
  return found;
}

/** "name{labels} value" lines of the rendered file, as a map from series to value. */
function series(families: MetricFamily[]): Map<string, string> {
  const lines = renderExposition(families).split('\n').filter((l) => l && !l.startsWith('#'));
  return new Map(lines.map((l) => [l.slice(0, l.lastIndexOf(' ')), l.slice(l.lastIndexOf(' ') + 1)]));
}

describe('gpu-hookd\'s metric families', () => {
  it('follow Prometheus\' naming: one prefix, counters end in _total, durations in _seconds, info gauges are 1', () => {
    const families = metricFamilies(input());
    for (const f of families) {
      assert.match(f.name, /^gpu_hookd_[a-z_]+$/);
      assert.ok(f.help.length > 10, `${f.name} has a HELP text`);
      if (f.type === 'counter') assert.match(f.name, /_total$/);
      if (f.type === 'histogram') assert.match(f.name, /_seconds$/);
      if (f.name.endsWith('_info')) assert.ok(f.samples.every((s) => s.value === 1));
    }
    assert.deepEqual(families.map((f) => f.name), [
      'gpu_hookd_build_info',
      'gpu_hookd_gpu_info',
      'gpu_hookd_gpu_mode',
      'gpu_hookd_gpu_owner_info',
      'gpu_hookd_gpu_iommu_group_viable',
      'gpu_hookd_gpu_functions',
      'gpu_hookd_gpu_vfio_functions',
      'gpu_hookd_transitions_total',
      'gpu_hookd_transition_duration_seconds',
      'gpu_hookd_last_failure_timestamp_seconds',
    ]);
  });

  it('show each GPU\'s state: mode as one series per mode, owner, viability, functions on vfio-pci', () => {
    const s = series(metricFamilies(input()));
    assert.equal(s.get('gpu_hookd_build_info{version="0.1.0",nodejs_version="20.19.0"}'), '1');
    assert.equal(s.get('gpu_hookd_gpu_info{gpu="0000:02:00.0",name="AMD \\"Navi\\"",iommu_group="14",boot_vga="false"}'), '1');
    for (const mode of ['host', 'vfio', 'detaching', 'attaching', 'failed']) {
      assert.equal(s.get(`gpu_hookd_gpu_mode{gpu="0000:01:00.0",mode="${mode}"}`), mode === 'vfio' ? '1' : '0');
      assert.equal(s.get(`gpu_hookd_gpu_mode{gpu="0000:02:00.0",mode="${mode}"}`), mode === 'host' ? '1' : '0');
    }
    assert.equal(s.get('gpu_hookd_gpu_owner_info{gpu="0000:01:00.0",vm="win10"}'), '1');
    assert.equal(s.get('gpu_hookd_gpu_owner_info{gpu="0000:02:00.0",vm=""}'), '1');
    assert.equal(s.get('gpu_hookd_gpu_iommu_group_viable{gpu="0000:01:00.0"}'), '1');
    assert.equal(s.get('gpu_hookd_gpu_iommu_group_viable{gpu="0000:02:00.0"}'), '0');
    assert.equal(s.get('gpu_hookd_gpu_vfio_functions{gpu="0000:01:00.0"}'), '4');
    assert.equal(s.get('gpu_hookd_gpu_vfio_functions{gpu="0000:02:00.0"}'), '0');
    assert.equal(s.get('gpu_hookd_gpu_functions{gpu="0000:02:00.0"}'), '4');
  });

  it('start every GPU\'s counters and histograms at zero, GPUs in address order', () => {
    const families = metricFamilies(input());
    const s = series(families);
    for (const gpu of ['0000:01:00.0', '0000:02:00.0']) {
      for (const operation of ['detach', 'attach']) {
        for (const result of ['success', 'failure']) assert.equal(s.get(`gpu_hookd_transitions_total{gpu="${gpu}",operation="${operation}",result="${result}"}`), '0');
        assert.equal(s.get(`gpu_hookd_transition_duration_seconds_count{gpu="${gpu}",operation="${operation}"}`), '0');
        assert.equal(s.get(`gpu_hookd_transition_duration_seconds_bucket{gpu="${gpu}",operation="${operation}",le="+Inf"}`), '0');
      }
      assert.equal(s.get(`gpu_hookd_last_failure_timestamp_seconds{gpu="${gpu}"}`), '0');
    }
    assert.deepEqual(family(families, 'gpu_hookd_gpu_info').samples.map((x) => x.labels.gpu), ['0000:01:00.0', '0000:02:00.0']);
    assert.equal(family(families, 'gpu_hookd_transition_duration_seconds').samples.length, 2 * 2 * (DURATION_BOUNDS.length + 3));
  });

  it('count transitions by operation and result, with their durations and the last failure\'s time', () => {
    let stats = NO_TRANSITIONS;
    stats = recordTransition(stats, { gpu: RTX.address, operation: 'detach', ok: true, seconds: 0.25, endedAt: 1000 });
    stats = recordTransition(stats, { gpu: RTX.address, operation: 'detach', ok: false, seconds: 7, endedAt: 1100.5 });
    stats = recordTransition(stats, { gpu: RTX.address, operation: 'attach', ok: true, seconds: 200, endedAt: 1200 });
    const s = series(metricFamilies(input({ stats })));
    const t = (operation: string, result: string): string | undefined => s.get(`gpu_hookd_transitions_total{gpu="0000:01:00.0",operation="${operation}",result="${result}"}`);
    assert.deepEqual([t('detach', 'success'), t('detach', 'failure'), t('attach', 'success'), t('attach', 'failure')], ['1', '1', '1', '0']);
    const bucket = (operation: string, le: string): string | undefined => s.get(`gpu_hookd_transition_duration_seconds_bucket{gpu="0000:01:00.0",operation="${operation}",le="${le}"}`);
    // A duration equal to a bound falls in that bound's bucket (le: less or equal).
    assert.deepEqual(['0.1', '0.25', '5', '10', '120', '+Inf'].map((le) => bucket('detach', le)), ['0', '1', '1', '2', '2', '2']);
    assert.deepEqual(['120', '+Inf'].map((le) => bucket('attach', le)), ['0', '1']);
    assert.equal(s.get('gpu_hookd_transition_duration_seconds_sum{gpu="0000:01:00.0",operation="detach"}'), '7.25');
    assert.equal(s.get('gpu_hookd_transition_duration_seconds_count{gpu="0000:01:00.0",operation="detach"}'), '2');
    assert.equal(s.get('gpu_hookd_last_failure_timestamp_seconds{gpu="0000:01:00.0"}'), '1100.5');
    assert.equal(s.get('gpu_hookd_last_failure_timestamp_seconds{gpu="0000:02:00.0"}'), '0');
  });

  it('recordTransition leaves the stats it was given as they were', () => {
    const once = recordTransition(NO_TRANSITIONS, { gpu: RTX.address, operation: 'detach', ok: false, seconds: 1, endedAt: 5 });
    const copy = JSON.parse(JSON.stringify(once)) as unknown;
    recordTransition(once, { gpu: RTX.address, operation: 'detach', ok: false, seconds: 1, endedAt: 6 });
    assert.deepEqual(once, copy);
    assert.deepEqual(NO_TRANSITIONS, { tallies: {}, lastFailure: {} });
  });

  it('keep the counters of a GPU that went away, so that they never go backwards', () => {
    const stats = recordTransition(NO_TRANSITIONS, { gpu: SECOND.address, operation: 'attach', ok: true, seconds: 1, endedAt: 5 });
    const s = series(metricFamilies(input({ gpus: [RTX], stats })));
    assert.equal(s.get('gpu_hookd_transitions_total{gpu="0000:02:00.0",operation="attach",result="success"}'), '1');
    assert.equal(s.get('gpu_hookd_gpu_mode{gpu="0000:02:00.0",mode="host"}'), undefined);
  });
});
