// Statistics the benchmarks print: medians of repeated measurements.

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values: the benchmark measured nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
