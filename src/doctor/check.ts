// One line of `gpu-hookctl doctor`: what was checked, how it came out, and for a failure or a
// warning the exact thing to do. Checks are plain functions from facts to these values.

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  /** Stable name for scripts ("iommu", "hook", "vm.machine", "gpu.0000:01:00.0"). */
  id: string;
  status: CheckStatus;
  /** What was found, one sentence. */
  detail: string;
  /** For warn and fail: what to do, as a command or an exact edit. */
  fix?: string;
}

export function ok(id: string, detail: string): Check {
  return { id, status: 'ok', detail };
}

export function warn(id: string, detail: string, fix: string): Check {
  return { id, status: 'warn', detail, fix };
}

export function fail(id: string, detail: string, fix: string): Check {
  return { id, status: 'fail', detail, fix };
}
