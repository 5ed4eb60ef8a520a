// Every failure leaves the bus as a named org.gpuhookd1.Error with one sentence. dbus-next would
// forward the stack of any other exception to the caller, so every handler goes through here.

import * as dbus from 'dbus-next';
import { ERROR_PREFIX } from './contract';
import { toServiceError } from '../daemon/service-error';

export function toDBusError(e: unknown): dbus.DBusError {
  if (e instanceof dbus.DBusError) return e;
  const err = toServiceError(e);
  return new dbus.DBusError(`${ERROR_PREFIX}.${err.kind}`, oneLine(err.message));
}

/** Runs a handler; whatever it throws reaches the caller as a named error, never a stack trace. */
export async function guarded<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw toDBusError(e);
  }
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').slice(0, 2000);
}
