// Durations as people read them in step-by-step output: sub-millisecond kernel writes keep a
// decimal, whole transitions do not need one.

export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}
