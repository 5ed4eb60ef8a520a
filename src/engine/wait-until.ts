// Bounded polling for kernel state that settles asynchronously (driver links after a probe,
// /dev/vfio nodes). sysfs emits no inotify events for these, so polling with a short, growing
// interval is the event-free way; it returns as soon as the condition holds, never after a fixed sleep.

const FIRST_INTERVAL_MS = 1;
const MAX_INTERVAL_MS = 50;

/** Resolves true once `condition()` holds, false when `timeoutMs` passed first or `signal` aborted. */
export async function waitUntil(condition: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  if (condition()) return true;
  const deadline = performance.now() + timeoutMs;
  let interval = FIRST_INTERVAL_MS;
  while (!signal?.aborted) {
    const left = deadline - performance.now();
    if (left <= 0) return condition();
    await pause(Math.min(interval, left), signal);
    if (condition()) return true;
    interval = Math.min(interval * 2, MAX_INTERVAL_MS);
  }
  return condition();
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
