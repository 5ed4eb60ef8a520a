// The one error type the engine throws. `code` maps one to one onto the D-Bus error names
// (org.gpuhookd1.Error.<code>); the message is one sentence naming the device, the step, the cause
// and what to do.

export type EngineErrorCode = 'Busy' | 'NotViable' | 'InvalidArgument' | 'NotFound' | 'Failed' | 'Timeout';

export interface EngineErrorDetails {
  gpu?: string;
  /** Description of the step that failed. */
  step?: string;
  /** Set when a rollback failed and the journal was kept for recovery. */
  journal?: string;
}

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    readonly details: EngineErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EngineError';
  }
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
