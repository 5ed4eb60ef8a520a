// One simulated host with a desktop on it for a handover test: the scenario's tree in a temporary
// root, the systemd and logind stand-ins on the private bus (src/sim/desktop/simulated-desktop.ts),
// and an engine whose systemd and logind clients talk to them over that bus.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as dbus from 'dbus-next';
import type { HandoverSettings } from '../../../src/engine/handover-plan';
import type { EngineTimeouts } from '../../../src/engine/step-executor';
import { TransitionEngine } from '../../../src/engine/transition-engine';
import { callMethod } from '../../../src/host/dbus-client';
import { hostServicesOn, type HostServices } from '../../../src/host/host-services';
import { simProcessAccess } from '../../../src/sim/open-host';
import type { Scenario, ScenarioFile } from '../../../src/sim/scenario';
import { parseScenario } from '../../../src/sim/scenario-parse';
import { loadScenario } from '../../../src/sim/scenarios';
import seedFile from '../../../src/sim/scenarios/seed';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { startPrivateSystemBus, type PrivateBus } from '../../support/private-bus';
import { makeTempRoot } from '../../support/temp-root';
import { startSimulatedDesktop, type DesktopOptions, type SimulatedDesktop } from '../../../src/sim/desktop/simulated-desktop';

export const GPU = '0000:01:00.0';
export const GROUP = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
export const HOST_DRIVERS = ['nouveau', 'snd_hda_intel', 'xhci_hcd', 'nvidia-gpu'];
/** The seed's display manager: sddm and the Xorg server it started (holding /dev/dri/card0). */
export const SEED_DM_PIDS = [812, 845];
export const FBCON = '(M) frame buffer device';

export const SETTINGS: HandoverSettings = { displayManagerUnit: 'display-manager.service', endSessions: false, unloadModules: false, holders: 'refuse' };

/** Short timeouts keep failing tests quick; the zero-delay emulator and the stand-ins answer at once. */
export const TIMEOUTS: Partial<EngineTimeouts> = { writeMs: 1_000, probeMs: 1_000, vfioDeviceMs: 1_000, unitJobMs: 2_000, sessionEndMs: 500 };

export interface HandoverHost {
  sim: SimHost;
  stateDir: string;
  engine: TransitionEngine;
  desktop: SimulatedDesktop;
  services: HostServices;
  dispose(): Promise<void>;
}

/** The seed's scenario with changes (a module in use, another firmware framebuffer...). */
export function seedVariant(name: string, change: (file: ScenarioFile) => ScenarioFile): Scenario {
  return parseScenario(change(structuredClone(seedFile) as ScenarioFile), name);
}

export async function handoverHost(
  bus: PrivateBus,
  opts: { scenario?: string | Scenario; desktop?: Partial<DesktopOptions>; timeouts?: Partial<EngineTimeouts> } = {},
): Promise<HandoverHost> {
  const temp = makeTempRoot('gpu-hookd-handover-');
  const scenario = typeof opts.scenario === 'object' ? opts.scenario : loadScenario(opts.scenario ?? 'seed');
  const sim = await createSimHost(scenario, { dir: path.join(temp.root, 'host'), zeroDelays: true });
  const stateDir = path.join(temp.root, 'state');
  fs.mkdirSync(stateDir);
  let desktop: SimulatedDesktop | undefined;
  let conn: dbus.MessageBus | undefined;
  try {
    desktop = await startSimulatedDesktop(bus, sim.root, { dmPids: SEED_DM_PIDS, ...opts.desktop });
    conn = bus.connect();
    // Connected (Hello answered) before anything can disconnect it: dbus-next fails a disconnect mid-handshake.
    await callMethod(conn, { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetId' });
    const services = hostServicesOn(conn);
    const engine = new TransitionEngine({ io: sim.io, processes: simProcessAccess(sim.io), stateDir, timeouts: { ...TIMEOUTS, ...opts.timeouts }, services });
    const started = { desktop, conn };
    return {
      sim,
      stateDir,
      engine,
      desktop,
      services,
      dispose: async () => {
        await services.close();
        started.conn.disconnect();
        await started.desktop.stop();
        await sim.dispose();
        temp.cleanup();
      },
    };
  } catch (e) {
    conn?.disconnect();
    await desktop?.stop();
    await sim.dispose();
    temp.cleanup();
    throw e;
  }
}

export function driversOf(host: HandoverHost, addresses: readonly string[] = GROUP): (string | null)[] {
  return addresses.map((a) => host.sim.io.readLinkName(`sys/bus/pci/devices/${a}/driver`) ?? null);
}

export function simProcessRuns(host: HandoverHost, pid: number): boolean {
  return host.sim.io.exists(`proc/${pid}/comm`);
}

export type HandoverHostOptions = Parameters<typeof handoverHost>[1];

/**
 * Registers the hooks of a handover test file: one private bus for the file, and every host a test
 * made disposed after it. `host()` makes a host on that bus.
 */
export function handoverSuite(): { host(opts?: HandoverHostOptions): Promise<HandoverHost>; bus(): PrivateBus } {
  let bus: PrivateBus | undefined;
  const hosts: HandoverHost[] = [];
  before(async () => {
    bus = await startPrivateSystemBus();
  });
  after(async () => {
    await bus?.stop();
  });
  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.dispose();
  });
  const started = (): PrivateBus => {
    if (!bus) throw new Error('the private bus is not started yet (call host() inside a test)');
    return bus;
  };
  return {
    bus: started,
    host: async (opts) => {
      const h = await handoverHost(started(), opts);
      hosts.push(h);
      return h;
    },
  };
}
