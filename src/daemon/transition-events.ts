// Each transition's start, end and failure as one log event a machine can select: a MESSAGE_ID of
// its own (fixed for good: log shippers and alerts filter on it; packaging/gpu-hookd.catalog explains
// each to journalctl -x) and the fields gpu, vm, operation, durationMs (journal: GPU, VM, OPERATION,
// DURATION_MS), plus error on a failure. The engine's own lines keep the step-by-step detail.

import type { Logger } from 'pino';
import type { GpuService, TransitionKind } from './gpu-service';

export const TRANSITION_MESSAGE_IDS = {
  started: 'd706734f47004a208105be81c19ff819',
  finished: '7233cb9009f84f26a25dd9147b6610e2',
  failed: 'b829beb3af0044f299709905ac744ee2',
} as const;

/** Logs the service's transitions until the returned function is called. */
export function logTransitions(service: GpuService, log: Logger): () => void {
  // One transition per GPU at a time: its VM is known from its start.
  const vms = new Map<string, string>();
  const onStarted = (gpu: string, operation: TransitionKind, vm: string): void => {
    vms.set(gpu, vm);
    log.info({ MESSAGE_ID: TRANSITION_MESSAGE_IDS.started, gpu, vm, operation }, `${operation} of ${gpu}${forVm(vm)} started`);
  };
  const onFinished = (gpu: string, operation: TransitionKind, ok: boolean, error: string, ms: number): void => {
    const vm = vms.get(gpu) ?? '';
    vms.delete(gpu);
    const durationMs = Math.round(ms * 10) / 10;
    if (ok) {
      log.info({ MESSAGE_ID: TRANSITION_MESSAGE_IDS.finished, gpu, vm, operation, durationMs }, `${operation} of ${gpu}${forVm(vm)} done in ${durationMs} ms`);
    } else {
      log.error({ MESSAGE_ID: TRANSITION_MESSAGE_IDS.failed, gpu, vm, operation, durationMs, error }, `${operation} of ${gpu}${forVm(vm)} failed: ${error}`);
    }
  };
  service.on('transition-started', onStarted);
  service.on('transition-finished', onFinished);
  return () => {
    service.off('transition-started', onStarted);
    service.off('transition-finished', onFinished);
  };
}

function forVm(vm: string): string {
  return vm ? ` for VM ${vm}` : ' by hand';
}
