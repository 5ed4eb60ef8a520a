// Everything one emulated kernel operation needs: the tree, the scenario's static facts (indexed
// once per process), the dynamic state, and what the current write's fault rules ask for. Built
// inside the host's lock, used synchronously, then dropped.

import { parseIdPattern, PciIdEntry } from './pci-id-match';
import { DriverSpec, ModuleSpec, PciDeviceSpec, Scenario } from './scenario';
import { PendingProbe, SimState } from './sim-state';
import { pciDeviceDir } from './sysfs-layout';
import { Tree } from './tree';

/** The kernel refused the write with this errno. */
export class KernelError extends Error {
  constructor(
    readonly code: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'KernelError';
  }
}

export interface ProbeFaults {
  /** True when a fault rule says this driver's probe of this device fails. */
  refuses(driver: string, address: string): boolean;
}

export const NO_PROBE_FAULTS: ProbeFaults = { refuses: () => false };

/** Lookups over a scenario that never change while the host exists. */
export class ScenarioIndex {
  readonly devices: ReadonlyMap<string, PciDeviceSpec>;
  private readonly drivers = new Map<string, { driver: DriverSpec; module: ModuleSpec }>();
  private readonly modules = new Map<string, ModuleSpec>();
  private readonly dirs = new Map<string, string>();
  private readonly idTables = new Map<string, PciIdEntry[]>();

  constructor(readonly scenario: Scenario) {
    this.devices = new Map(scenario.devices.map((d) => [d.address, d]));
    for (const m of scenario.modules) {
      this.modules.set(m.name, m);
      for (const d of m.drivers) this.drivers.set(d.name, { driver: d, module: m });
    }
  }

  deviceDir(address: string): string {
    let dir = this.dirs.get(address);
    if (dir === undefined) {
      dir = pciDeviceDir(address, this.devices);
      this.dirs.set(address, dir);
    }
    return dir;
  }

  driver(name: string): { driver: DriverSpec; module: ModuleSpec } | undefined {
    return this.drivers.get(name);
  }

  module(name: string): ModuleSpec | undefined {
    return this.modules.get(name.replace(/-/g, '_'));
  }

  /** The driver's static id table, parsed once. */
  staticIds(driver: string): PciIdEntry[] {
    let table = this.idTables.get(driver);
    if (!table) {
      table = (this.driver(driver)?.driver.ids ?? []).map(parseIdPattern).filter((e): e is PciIdEntry => e !== null);
      this.idTables.set(driver, table);
    }
    return table;
  }
}

export class KernelContext {
  readonly scenario: Scenario;
  /** Probes queued by this operation: the caller arms timers for them. */
  readonly queued: PendingProbe[] = [];
  /** True while the builder replays the boot state: it writes the consoles from the scenario afterwards. */
  booting = false;

  constructor(
    readonly tree: Tree,
    readonly index: ScenarioIndex,
    readonly state: SimState,
    readonly now: number,
    readonly faults: ProbeFaults = NO_PROBE_FAULTS,
  ) {
    this.scenario = index.scenario;
  }

  device(address: string): PciDeviceSpec | undefined {
    return this.index.devices.get(address);
  }

  deviceDir(address: string): string {
    return this.index.deviceDir(address);
  }

  driver(name: string): { driver: DriverSpec; module: ModuleSpec } | undefined {
    return this.index.driver(name);
  }

  module(name: string): ModuleSpec | undefined {
    return this.index.module(name);
  }

  staticIds(driver: string): PciIdEntry[] {
    return this.index.staticIds(driver);
  }

  isRegistered(driver: string): boolean {
    return this.state.pciDrivers.includes(driver);
  }

  groupMembers(group: number): PciDeviceSpec[] {
    return this.scenario.devices.filter((d) => d.iommuGroup === group);
  }

  isBridge(d: PciDeviceSpec): boolean {
    return d.class.startsWith('0604');
  }
}
