// The one error type the engine throws. `code` maps one to one onto the D-Bus error names
// (org.gpuhookd1.Error.<code>); the message is one sentence naming the device, the step, the cause
// and what to do.

import type { StepSpec } from './step-spec';

export type EngineErrorCode = 'Busy' | 'NotViable' | 'InvalidArgument' | 'NotFound' | 'Failed' | 'Timeout';

export interface EngineErrorDetails {
  gpu?: string;
  /** Description of the step that failed. */
  step?: string;
  /** Set when a rollback failed and the journal was kept for recovery. */
  journal?: string;
  /** The step that failed, when a plan's step did; `restored`: the rollback put the host back as it was. */
  failedStep?: StepSpec;
  restored?: boolean;
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

/** A step's own failure that knows its error code and what the user should do about it. */
export class StepError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** What to do, completing the sentence after a colon: "stop it and try again". */
    readonly advice: string,
  ) {
    super(message);
    this.name = 'StepError';
  }
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
