// The daemon's failures, each of one kind that callers can act on. The D-Bus layer turns the kind
// into an error name (org.gpuhookd1.Error.<kind>) and the message into the error's one sentence.

import { HostTimeoutError, HostWriteError, ModuleError } from '../host/host-io';
import { InvalidPciAddressError } from '../host/pci-address';
import { DomainXmlError } from '../libvirt/domain-request';

export type ServiceErrorKind = 'InvalidArgument' | 'NotFound' | 'Busy' | 'NotViable' | 'Timeout' | 'AccessDenied' | 'Failed';

export class ServiceError extends Error {
  constructor(
    readonly kind: ServiceErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

/** Classifies any thrown value; unknown errors become Failed with their message (never a stack). */
export function toServiceError(e: unknown): ServiceError {
  if (e instanceof ServiceError) return e;
  if (e instanceof InvalidPciAddressError || e instanceof DomainXmlError) return new ServiceError('InvalidArgument', e.message);
  if (e instanceof HostTimeoutError) return new ServiceError('Timeout', e.message);
  const err = e as { kind?: unknown; code?: unknown; name?: unknown; message?: unknown; cause?: unknown } | undefined;
  const message = typeof err?.message === 'string' && err.message ? err.message : String(e);
  // The engine's EngineError carries a code of the same vocabulary (non-viable groups, unknown devices,
  // timeouts): honour it.
  const kind = err?.name === 'EngineError' ? err.code : err?.kind;
  if (typeof kind === 'string' && KINDS.has(kind as ServiceErrorKind)) return new ServiceError(kind as ServiceErrorKind, message);
  if (err?.cause instanceof HostTimeoutError) return new ServiceError('Timeout', message);
  if (e instanceof HostWriteError || e instanceof ModuleError) return new ServiceError('Failed', message);
  return new ServiceError('Failed', message);
}

const KINDS = new Set<ServiceErrorKind>(['InvalidArgument', 'NotFound', 'Busy', 'NotViable', 'Timeout', 'AccessDenied', 'Failed']);
