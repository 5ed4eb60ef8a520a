// org.freedesktop.LogControl1, so that `systemctl service-log-level gpu-hookd debug` changes the
// log level of the running daemon. Reading is open to anyone; a write is checked by the daemon itself
// against root or the access group, as every change is (the bus policy only filters first, and names
// the shipped group, which the config may have replaced).

import * as dbus from 'dbus-next';
import type { Logger } from 'pino';
import { setLogLevel, syslogLevelName } from '../daemon/logger';
import type { CallerAccess } from './caller-access';
import { toDBusError } from './dbus-errors';

export const LOG_CONTROL_PATH = '/org/freedesktop/LogControl1';
const LOG_CONTROL_IFACE = 'org.freedesktop.LogControl1';
const PROPERTIES_IFACE = 'org.freedesktop.DBus.Properties';

class LogControlInterface extends dbus.interface.Interface {
  constructor(private readonly log: Logger) {
    super(LOG_CONTROL_IFACE);
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

/**
 * Exports LogControl1 at its path with every Properties.Set on it checked first. dbus-next applies a
 * Set through a synchronous setter that cannot learn the caller, so a Set is taken before dbus-next
 * sees it, checked, and only then applied; Sets apply in the order they came.
 */
export function exportLogControl(bus: dbus.MessageBus, access: CallerAccess, log: Logger): LogControlInterface {
  const iface = new LogControlInterface(log);
  bus.export(LOG_CONTROL_PATH, iface);
  let queue = Promise.resolve();
  bus.addMethodHandler((msg: dbus.Message) => {
    if (msg.path !== LOG_CONTROL_PATH || msg.interface !== PROPERTIES_IFACE || msg.member !== 'Set' || msg.body[0] !== LOG_CONTROL_IFACE) return false;
    queue = queue.then(async () => {
      try {
        await access.assertMayChange(msg.sender ?? '', 'changing the log level or target');
        setProperty(iface, msg);
        bus.send(dbus.Message.newMethodReturn(msg, '', []));
      } catch (e) {
        const err = toDBusError(e);
        // dbus-next's typings declare newError(string); the library takes the call being answered.
        bus.send(dbus.Message.newError(msg as unknown as string, err.type, err.text));
      }
    });
    return true;
  });
  return iface;
}

function setProperty(iface: LogControlInterface, msg: dbus.Message): void {
  const [, name, value] = msg.body as [string, string, unknown];
  if (msg.signature !== 'ssv' || !(value instanceof dbus.Variant)) {
    throw new dbus.DBusError('org.freedesktop.DBus.Error.InvalidArgs', `Properties.Set takes (ssv), not (${msg.signature})`);
  }
  if (name !== 'LogLevel' && name !== 'LogTarget') {
    throw new dbus.DBusError('org.freedesktop.DBus.Error.InvalidArgs', `${LOG_CONTROL_IFACE} has no writable property ${JSON.stringify(name)}: LogLevel and LogTarget are`);
  }
  if (value.signature !== 's') {
    throw new dbus.DBusError('org.freedesktop.DBus.Error.InvalidArgs', `${name} is a string (s), not ${value.signature}`);
  }
  iface[name] = String(value.value);
}
