// The seed's desktop for the demo. Its only GPU draws the screen, so gpu-hookd hands it over: it asks
// systemd to stop the display manager and, afterwards, to start it again. systemd and logind are the
// simulated host's stand-ins (src/sim/desktop; real peers on the demo bus with systemd's and logind's
// interfaces), and the display manager's processes (sddm and the Xorg holding /dev/dri/card0) live
// on the simulated host, where stopping the unit ends them.

import type { Scenario } from '../sim/scenario';
import { startSimulatedDesktop, type SimulatedDesktop } from '../sim/desktop/simulated-desktop';
import type { StandinBus } from '../sim/desktop/standin-channel';

export type { SimulatedDesktop };

/** The display manager's processes: the one named like it, and those holding a DRM node (its X server). */
export function displayManagerPids(scenario: Scenario): number[] {
  const dm = scenario.displayManager;
  if (!dm) return [];
  return scenario.processes.filter((p) => p.comm === dm.name || (p.fds ?? []).some((f) => f.startsWith('/dev/dri/'))).map((p) => p.pid);
}

export function startDemoDesktop(busAddress: string, scenario: Scenario, simRoot: string): Promise<SimulatedDesktop> {
  return startSimulatedDesktop(demoBusForStandins(busAddress), simRoot, { dmPids: displayManagerPids(scenario) });
}

/** The demo bus lets everyone own and call everything, so the policy files the stand-ins bring are not needed. */
function demoBusForStandins(address: string): StandinBus {
  return { address, addPolicy: async () => undefined };
}
