// The one error type of CPU isolation and pinning. `kind` is the daemon's error vocabulary
// (org.gpuhookd1.Error.<kind> on the bus); the message is one sentence naming the VM, what was wrong
// and what to do.

export type CpuErrorKind = 'InvalidArgument' | 'Busy' | 'NotFound' | 'Timeout' | 'Failed';

export class CpuError extends Error {
  constructor(
    readonly kind: CpuErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CpuError';
  }
}
