// Who may change things: root and members of the configured group. The bus policy file enforces
// the default group before a call reaches us; this check enforces the group named in the config
// (which may differ from the shipped policy) using the caller's uid as the bus daemon reports it.

import { execFile } from 'node:child_process';
import * as dbus from 'dbus-next';
import { ServiceError } from '../daemon/service-error';

export class CallerAccess {
  private current: dbus.Message | undefined;

  constructor(
    private readonly bus: dbus.MessageBus,
    private group: string,
  ) {
    // dbus-next runs method handlers synchronously just before it dispatches to an Interface method,
    // so the message seen here is the one whose method body runs next (handlers cannot see it otherwise).
    bus.addMethodHandler((msg: dbus.Message) => {
      this.current = msg;
      return false;
    });
  }

  setGroup(group: string): void {
    this.group = group;
  }

  /** Call synchronously at the top of a method body: captures the caller of the call being dispatched. */
  capture(): string {
    return this.current?.sender ?? '';
  }

  async assertMayChange(sender: string, what: string): Promise<void> {
    const uid = await this.uidOf(sender);
    if (uid === 0) return;
    if (this.group && (await groupsOf(uid)).includes(this.group)) return;
    throw new ServiceError(
      'AccessDenied',
      `${what} needs root or membership of group ${this.group || '(none configured)'}: run with sudo or add your user to ${this.group} (usermod -aG ${this.group} $USER, then log in again)`,
    );
  }

  private async uidOf(sender: string): Promise<number> {
    const reply = await this.bus.call(
      new dbus.Message({
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus',
        member: 'GetConnectionUnixUser',
        signature: 's',
        body: [sender],
      }),
    );
    return Number(reply?.body[0]);
  }
}

function groupsOf(uid: number): Promise<string[]> {
  return new Promise((resolve) => {
    execFile('id', ['-Gn', '--', String(uid)], { timeout: 2000 }, (err, stdout) => {
      resolve(err ? [] : String(stdout).trim().split(/\s+/));
    });
  });
}
