// Durations as people read them in step-by-step output: sub-millisecond kernel writes keep a
// decimal, whole transitions do not need one.

export function formatMs(ms: number): string {
  // Thresholds at the rounding points, so that 999.6 ms reads "1.00 s", not "1000 ms".
  if (ms >= 999.5) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 9.95) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}
