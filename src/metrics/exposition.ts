// Prometheus' text exposition format (version 0.0.4), as node_exporter's textfile collector reads
// it: families of samples, each family with its HELP and TYPE lines first. Plain data in, text
// out; names are checked here so a bad one fails the daemon's tests, not the operator's scrape.

export type MetricType = 'gauge' | 'counter' | 'histogram';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  /** Appended to the family's name: "_bucket", "_sum", "_count" for a histogram, "" otherwise. */
  suffix?: string;
  labels: Labels;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: readonly Sample[];
}

export interface HistogramData {
  /** Upper bounds in increasing order, without +Inf. */
  bounds: readonly number[];
  /** Observations at or below each bound (not cumulative), then those above the last bound. */
  counts: readonly number[];
  sum: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The whole file: every family, in the order given. */
export function renderExposition(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new Error(`${JSON.stringify(family.name)} is not a valid Prometheus metric name`);
    if (seen.has(family.name)) throw new Error(`metric family ${family.name} is given twice`);
    seen.add(family.name);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) lines.push(`${family.name}${sample.suffix ?? ''}${renderLabels(sample.labels)} ${renderValue(sample.value)}`);
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/** A histogram's samples for one label set: cumulative buckets up to +Inf, then sum and count. */
export function histogramSamples(labels: Labels, data: HistogramData): Sample[] {
  if (data.counts.length !== data.bounds.length + 1) throw new Error('a histogram needs one count per bound and one above the last');
  const samples: Sample[] = [];
  let cumulative = 0;
  data.bounds.forEach((bound, i) => {
    cumulative += data.counts[i];
    samples.push({ suffix: '_bucket', labels: { ...labels, le: renderValue(bound) }, value: cumulative });
  });
  cumulative += data.counts[data.bounds.length];
  samples.push({ suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: cumulative });
  samples.push({ suffix: '_sum', labels, value: data.sum });
  samples.push({ suffix: '_count', labels, value: cumulative });
  return samples;
}

function renderLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  for (const [name] of entries) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`${JSON.stringify(name)} is not a valid Prometheus label name`);
  }
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

/** Label values escape backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and newline (a quote stays as it is). */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function renderValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
