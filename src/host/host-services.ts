// The host's own services gpu-hookd talks to over the system bus: systemd's manager and logind.
// They share the daemon's one bus connection (in tests, the private bus where the stand-ins live).

import type * as dbus from 'dbus-next';
import { LogindSessions } from './logind-sessions';
import { SystemdManager } from './systemd-manager';

export interface HostServices {
  systemd: SystemdManager;
  logind: LogindSessions;
}

export function hostServicesOn(bus: dbus.MessageBus): HostServices & { close(): Promise<void> } {
  const systemd = new SystemdManager(bus);
  const logind = new LogindSessions(bus);
  return {
    systemd,
    logind,
    close: async () => {
      await Promise.all([systemd.close(), logind.close()]);
    },
  };
}
