// org.freedesktop.LogControl1, so that `systemctl service-log-level gpu-hookd debug` changes the
// log level of the running daemon. The bus policy allows setting a property to root and group
// gpuhookd only (everyone else may only Get/GetAll), the same people who may move GPUs; the level
// is no more than that, so the setter needs no check of its own.

import * as dbus from 'dbus-next';
import type { Logger } from 'pino';
import { setLogLevel, syslogLevelName } from '../daemon/logger';
import { toDBusError } from './dbus-errors';

export const LOG_CONTROL_PATH = '/org/freedesktop/LogControl1';

export class LogControlInterface extends dbus.interface.Interface {
  constructor(private readonly log: Logger) {
    super('org.freedesktop.LogControl1');
  }

  get LogLevel(): string {
    return syslogLevelName(this.log);
  }
  set LogLevel(level: string) {
    try {
      setLogLevel(this.log, level);
    } catch (e) {
      throw toDBusError(e);
    }
    this.log.info({ event: 'log-level', level }, `log level set to ${level}`);
  }

  /** Where logs go: stdout, which systemd connects to the journal. */
  get LogTarget(): string {
    return 'journal';
  }
  set LogTarget(target: string) {
    if (target !== 'journal' && target !== 'console') {
      throw new dbus.DBusError('org.freedesktop.DBus.Error.InvalidArgs', `gpu-hookd only logs to stdout (journal or console), not ${target}`);
    }
  }

  get SyslogIdentifier(): string {
    return 'gpu-hookd';
  }
}

LogControlInterface.configureMembers({
  properties: {
    LogLevel: { signature: 's', access: 'readwrite' },
    LogTarget: { signature: 's', access: 'readwrite' },
    SyslogIdentifier: { signature: 's', access: 'read' },
  },
});
