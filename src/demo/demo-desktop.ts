// The seed's desktop for the demo. Its only GPU draws the screen, so gpu-hookd hands it over: it asks
// systemd to stop the display manager and, afterwards, to start it again. systemd and logind are the
// stand-ins the tests use (real peers on the demo bus with systemd's and logind's interfaces), and
// the display manager's processes (sddm and the Xorg holding /dev/dri/card0) live on the simulated
// host, where stopping the unit ends them.

import * as dbus from 'dbus-next';
import type { Scenario } from '../sim/scenario';
import { startSimulatedDesktop, type SimulatedDesktop } from '../../test/integration/handover/simulated-desktop';
import type { PrivateBus } from '../../test/support/private-bus';

export type { SimulatedDesktop };

/** The display manager's processes: the one named like it, and those holding a DRM node (its X server). */
export function displayManagerPids(scenario: Scenario): number[] {
  const dm = scenario.displayManager;
  if (!dm) return [];
  return scenario.processes.filter((p) => p.comm === dm.name || (p.fds ?? []).some((f) => f.startsWith('/dev/dri/'))).map((p) => p.pid);
}

export function startDemoDesktop(busAddress: string, busPid: number, scenario: Scenario, simRoot: string): Promise<SimulatedDesktop> {
  return startSimulatedDesktop(demoBusForStandins(busAddress, busPid), simRoot, { dmPids: displayManagerPids(scenario) });
}

/**
 * The demo bus in the shape the stand-ins expect. It lets everyone own and call everything, so the
 * policy files they bring are not needed.
 */
function demoBusForStandins(address: string, pid: number): PrivateBus {
  const socketPath = /unix:path=([^,]+)/.exec(address)?.[1] ?? '';
  return {
    address,
    socketPath,
    pid,
    configDir: '',
    env: { DBUS_SYSTEM_BUS_ADDRESS: address },
    addPolicy: async () => undefined,
    reload: async () => undefined,
    connect: () => dbus.sessionBus({ busAddress: address }),
    stop: async () => {
      throw new Error('the demo stops its bus itself');
    },
  };
}
