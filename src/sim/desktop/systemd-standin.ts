// A stand-in for systemd's manager on the simulated host's bus, with systemd's real bus name, object
// paths, interfaces and signatures, so that gpu-hookd's systemd client is tested against real D-Bus
// messages. It runs as its own node process (this file is also its entry point). Tests script it:
// which units exist and in which state, how long a job takes, jobs that never finish, failed jobs,
// D-Bus errors on chosen calls; and it records every call with its arguments.
//
// Jobs behave as systemd's do: StartUnit/StopUnit/RestartUnit answer at once with a job path, the
// unit passes through activating/deactivating, and JobRemoved(id, job, unit, result) tells the end.

import * as dbus from 'dbus-next';
import { StandinProcess, busLabelEscape, launchStandin, readOnlyProperties, runStandinMain, type StandinBus } from './standin-channel';

export const SYSTEMD_BUS_NAME = 'org.freedesktop.systemd1';
export const SYSTEMD_PATH = '/org/freedesktop/systemd1';
export const SYSTEMD_MANAGER_INTERFACE = 'org.freedesktop.systemd1.Manager';
export const SYSTEMD_UNIT_INTERFACE = 'org.freedesktop.systemd1.Unit';
export const SYSTEMD_JOB_INTERFACE = 'org.freedesktop.systemd1.Job';

export type JobType = 'start' | 'stop' | 'restart';
export type JobResult = 'done' | 'canceled' | 'timeout' | 'failed' | 'dependency' | 'skipped';
export type ActiveState = 'active' | 'inactive' | 'failed' | 'activating' | 'deactivating' | 'reloading';

export interface JobBehaviour {
  /** Time from the job's creation to JobRemoved. */
  latencyMs?: number;
  /** The result JobRemoved carries; 'never' leaves the job running until completeJobs(). */
  result?: JobResult | 'never';
}

export interface UnitSpec {
  /** The unit's Id, e.g. "gdm.service". */
  name: string;
  /** Other names that resolve to it, e.g. "display-manager.service". */
  aliases?: string[];
  description?: string;
  /** Default "inactive". */
  activeState?: ActiveState;
  /** Default: what systemd shows for the active state and unit type ("running", "dead", ...). */
  subState?: string;
  /** AllowedCPUs as systemd's byte mask (ay): bit n%8 of byte n/8 is CPU n; [] means all CPUs. */
  allowedCpus?: number[];
  /** How each job type on this unit behaves; default: done at once. */
  jobs?: Partial<Record<JobType, JobBehaviour>>;
}

export interface UnitSnapshot {
  name: string;
  aliases: string[];
  loadState: string;
  activeState: string;
  subState: string;
  allowedCpus: number[];
  job?: { id: number; type: JobType };
}

/** Units every systemd host has; tests add to or replace them. */
export const DEFAULT_UNITS: UnitSpec[] = [
  { name: 'system.slice', activeState: 'active' },
  { name: 'user.slice', activeState: 'active' },
  { name: 'init.scope', activeState: 'active' },
];

export function unitPath(name: string): string {
  return `${SYSTEMD_PATH}/unit/${busLabelEscape(name)}`;
}

export function jobPath(id: number): string {
  return `${SYSTEMD_PATH}/job/${id}`;
}

/** The systemd stand-in as the test sees it. */
export class SystemdStandin extends StandinProcess {
  constructor(bus: StandinBus) {
    super(__filename, bus, 'systemd');
  }

  /** Adds a unit, or changes the given fields of an existing one (emitting PropertiesChanged). */
  async setUnit(spec: UnitSpec): Promise<void> {
    await this.request('setUnit', spec);
  }

  async unit(name: string): Promise<UnitSnapshot> {
    return (await this.request('unit', name)) as UnitSnapshot;
  }

  /** Ends the job in progress on `unit` (e.g. one scripted to never finish); resolves with how many ended. */
  async completeJobs(unit: string, result: JobResult): Promise<number> {
    return (await this.request('completeJobs', { unit, result })) as number;
  }
}

export interface SystemdStandinOptions {
  /** Added to DEFAULT_UNITS; a unit of the same name replaces the default. */
  units?: UnitSpec[];
}

/** Installs the stand-in's bus policy, starts it and creates its units. Stop it with stop(). */
export function startSystemdStandin(bus: StandinBus, options: SystemdStandinOptions = {}): Promise<SystemdStandin> {
  const wanted = options.units ?? [];
  const units = [...DEFAULT_UNITS.filter((d) => !wanted.some((u) => u.name === d.name)), ...wanted];
  return launchStandin(bus, SYSTEMD_BUS_NAME, () => new SystemdStandin(bus), async (standin) => {
    for (const unit of units) await standin.setUnit(unit);
  });
}

// ---- the stand-in process ----

const { Interface } = dbus.interface;

interface Job {
  id: number;
  type: JobType;
  unit: Unit;
  object: JobInterface;
}

type CgroupInterfaceName = 'org.freedesktop.systemd1.Service' | 'org.freedesktop.systemd1.Slice' | 'org.freedesktop.systemd1.Scope';

const CGROUP_INTERFACES: Record<string, CgroupInterfaceName> = {
  service: 'org.freedesktop.systemd1.Service',
  slice: 'org.freedesktop.systemd1.Slice',
  scope: 'org.freedesktop.systemd1.Scope',
};

class Unit {
  loadState = 'loaded';
  activeState: ActiveState = 'inactive';
  subState = 'dead';
  description = '';
  aliases: string[] = [];
  allowedCpus: number[] = [];
  jobs: Partial<Record<JobType, JobBehaviour>> = {};
  job: Job | undefined;
  readonly unitInterface: UnitInterface;
  readonly cgroupInterface: CgroupInterface | undefined;

  constructor(readonly name: string) {
    this.unitInterface = new UnitInterface(this);
    const cgroupName = CGROUP_INTERFACES[name.slice(name.lastIndexOf('.') + 1)];
    this.cgroupInterface = cgroupName ? new CgroupInterface(cgroupName, this) : undefined;
  }

  get path(): string {
    return unitPath(this.name);
  }

  get kind(): string {
    return this.name.slice(this.name.lastIndexOf('.') + 1);
  }

  setState(active: ActiveState, sub?: string): void {
    this.activeState = active;
    this.subState = sub ?? defaultSubState(this.kind, active);
    Interface.emitPropertiesChanged(this.unitInterface, { ActiveState: this.activeState, SubState: this.subState }, []);
  }

  snapshot(): UnitSnapshot {
    const job = this.job ? { id: this.job.id, type: this.job.type } : undefined;
    return { name: this.name, aliases: this.aliases, loadState: this.loadState, activeState: this.activeState, subState: this.subState, allowedCpus: this.allowedCpus, ...(job ? { job } : {}) };
  }
}

function defaultSubState(kind: string, active: ActiveState): string {
  switch (active) {
    case 'active':
      return kind === 'service' ? 'running' : 'active';
    case 'inactive':
      return 'dead';
    case 'failed':
      return 'failed';
    case 'activating':
      return 'start';
    case 'deactivating':
      return kind === 'service' ? 'stop-sigterm' : 'stop';
    case 'reloading':
      return 'reload';
  }
}

class UnitInterface extends Interface {
  constructor(private readonly unit: Unit) {
    super(SYSTEMD_UNIT_INTERFACE);
  }
  get Id(): string {
    return this.unit.name;
  }
  get Names(): string[] {
    return [this.unit.name, ...this.unit.aliases];
  }
  get Description(): string {
    return this.unit.description;
  }
  get LoadState(): string {
    return this.unit.loadState;
  }
  get ActiveState(): string {
    return this.unit.activeState;
  }
  get SubState(): string {
    return this.unit.subState;
  }
  get Job(): [number, string] {
    return this.unit.job ? [this.unit.job.id, jobPath(this.unit.job.id)] : [0, '/'];
  }
}
UnitInterface.configureMembers({
  properties: readOnlyProperties({ Id: 's', Names: 'as', Description: 's', LoadState: 's', ActiveState: 's', SubState: 's', Job: '(uo)' }),
});

class CgroupInterface extends Interface {
  constructor(
    name: CgroupInterfaceName,
    private readonly unit: Unit,
  ) {
    super(name);
  }
  get AllowedCPUs(): Buffer {
    return Buffer.from(this.unit.allowedCpus);
  }
}
CgroupInterface.configureMembers({ properties: readOnlyProperties({ AllowedCPUs: 'ay' }) });

class JobInterface extends Interface {
  constructor(private readonly job: Omit<Job, 'object'>) {
    super(SYSTEMD_JOB_INTERFACE);
  }
  get Id(): number {
    return this.job.id;
  }
  get Unit(): [string, string] {
    return [this.job.unit.name, this.job.unit.path];
  }
  get JobType(): string {
    return this.job.type;
  }
  get State(): string {
    return 'running';
  }
}
JobInterface.configureMembers({
  properties: readOnlyProperties({ Id: 'u', Unit: '(so)', JobType: 's', State: 's' }),
});

const JOB_MODES = ['replace', 'fail', 'isolate', 'ignore-dependencies', 'ignore-requirements', 'flush', 'replace-irreversibly'];

function noSuchUnit(name: string, why: 'loaded' | 'found'): dbus.DBusError {
  return new dbus.DBusError('org.freedesktop.systemd1.NoSuchUnit', `Unit ${name} not ${why}.`);
}

class SystemdModel {
  private readonly units = new Map<string, Unit>();
  private readonly byName = new Map<string, Unit>();
  private nextJobId = 100;
  readonly manager: ManagerInterface;

  constructor(private readonly bus: dbus.MessageBus) {
    this.manager = new ManagerInterface(this);
    bus.export(SYSTEMD_PATH, this.manager);
  }

  find(name: string): Unit | undefined {
    return this.byName.get(name);
  }

  loaded(name: string, why: 'loaded' | 'found'): Unit {
    const unit = this.byName.get(name);
    if (!unit || unit.loadState !== 'loaded') throw noSuchUnit(name, why);
    return unit;
  }

  all(): Unit[] {
    return [...this.units.values()];
  }

  setUnit(spec: UnitSpec): void {
    let unit = this.units.get(spec.name);
    if (!unit) {
      unit = new Unit(spec.name);
      this.units.set(unit.name, unit);
      this.byName.set(unit.name, unit);
      this.bus.export(unit.path, unit.unitInterface);
      if (unit.cgroupInterface) this.bus.export(unit.path, unit.cgroupInterface);
    }
    for (const alias of spec.aliases ?? []) this.byName.set(alias, unit);
    if (spec.aliases) unit.aliases = spec.aliases;
    if (spec.description !== undefined) unit.description = spec.description;
    if (spec.jobs) unit.jobs = spec.jobs;
    if (spec.allowedCpus) this.setAllowedCpus(unit, spec.allowedCpus);
    if (spec.activeState || spec.subState) unit.setState(spec.activeState ?? unit.activeState, spec.subState);
  }

  /** A unit object for a name systemd has no file for, as LoadUnit gives. */
  notFound(name: string): Unit {
    this.setUnit({ name });
    const unit = this.units.get(name) as Unit;
    unit.loadState = 'not-found';
    return unit;
  }

  setAllowedCpus(unit: Unit, mask: number[]): void {
    if (!unit.cgroupInterface) {
      throw new dbus.DBusError('org.freedesktop.DBus.Error.PropertyReadOnly', 'Cannot set property AllowedCPUs, or unknown property.');
    }
    unit.allowedCpus = [...mask];
    Interface.emitPropertiesChanged(unit.cgroupInterface, { AllowedCPUs: Buffer.from(mask) }, []);
  }

  enqueue(unit: Unit, type: JobType, mode: string): string {
    if (!JOB_MODES.includes(mode)) throw new dbus.DBusError('org.freedesktop.DBus.Error.InvalidArgs', `Job mode ${mode} invalid.`);
    if (unit.job) this.finish(unit.job, 'canceled');
    const id = this.nextJobId++;
    const partial = { id, type, unit };
    const job: Job = { ...partial, object: new JobInterface(partial) };
    unit.job = job;
    this.bus.export(jobPath(id), job.object);
    this.manager.JobNew(id, jobPath(id), unit.name);
    unit.setState(type === 'stop' ? 'deactivating' : 'activating');
    const behaviour = unit.jobs[type] ?? {};
    const result = behaviour.result ?? 'done';
    if (result !== 'never') setTimeout(() => this.finish(job, result), behaviour.latencyMs ?? 0);
    return jobPath(id);
  }

  finish(job: Job, result: JobResult): void {
    const unit = job.unit;
    if (unit.job !== job) return;
    unit.job = undefined;
    if (result === 'done') unit.setState(job.type === 'stop' ? 'inactive' : 'active');
    else if (result === 'failed' || result === 'timeout') unit.setState('failed');
    else unit.setState(job.type === 'stop' ? 'active' : 'inactive');
    this.bus.unexport(jobPath(job.id), job.object);
    this.manager.JobRemoved(job.id, jobPath(job.id), unit.name, result);
  }
}

class ManagerInterface extends Interface {
  constructor(private readonly model: SystemdModel) {
    super(SYSTEMD_MANAGER_INTERFACE);
  }
  StartUnit(name: string, mode: string): string {
    return this.model.enqueue(this.model.loaded(name, 'found'), 'start', mode);
  }
  StopUnit(name: string, mode: string): string {
    return this.model.enqueue(this.model.loaded(name, 'loaded'), 'stop', mode);
  }
  RestartUnit(name: string, mode: string): string {
    return this.model.enqueue(this.model.loaded(name, 'found'), 'restart', mode);
  }
  GetUnit(name: string): string {
    const unit = this.model.find(name);
    if (!unit) throw noSuchUnit(name, 'loaded');
    return unit.path;
  }
  LoadUnit(name: string): string {
    return (this.model.find(name) ?? this.model.notFound(name)).path;
  }
  ListUnits(): unknown[] {
    return this.model.all().map((u) => [u.name, u.description, u.loadState, u.activeState, u.subState, '', u.path, u.job?.id ?? 0, u.job?.type ?? '', u.job ? jobPath(u.job.id) : '/']);
  }
  SetUnitProperties(name: string, _runtime: boolean, properties: [string, dbus.Variant][]): void {
    const unit = this.model.loaded(name, 'loaded');
    for (const [property, value] of properties) {
      if (property !== 'AllowedCPUs') {
        throw new dbus.DBusError('org.freedesktop.DBus.Error.PropertyReadOnly', `Cannot set property ${property}, or unknown property.`);
      }
      if (value.signature !== 'ay') {
        throw new dbus.DBusError('org.freedesktop.DBus.Error.InvalidArgs', `Invalid type for AllowedCPUs: expected ay, got ${value.signature}.`);
      }
      this.model.setAllowedCpus(unit, [...(value.value as Buffer)]);
    }
  }
  Subscribe(): void {}
  Unsubscribe(): void {}
  JobNew(id: number, job: string, unit: string): unknown[] {
    return [id, job, unit];
  }
  JobRemoved(id: number, job: string, unit: string, result: string): unknown[] {
    return [id, job, unit, result];
  }
}
ManagerInterface.configureMembers({
  methods: {
    StartUnit: { inSignature: 'ss', outSignature: 'o' },
    StopUnit: { inSignature: 'ss', outSignature: 'o' },
    RestartUnit: { inSignature: 'ss', outSignature: 'o' },
    GetUnit: { inSignature: 's', outSignature: 'o' },
    LoadUnit: { inSignature: 's', outSignature: 'o' },
    ListUnits: { outSignature: 'a(ssssssouso)' },
    SetUnitProperties: { inSignature: 'sba(sv)' },
    Subscribe: {},
    Unsubscribe: {},
  },
  signals: {
    JobNew: { signature: 'uos' },
    JobRemoved: { signature: 'uoss' },
  },
});

function serve(bus: dbus.MessageBus): Record<string, (args: never) => unknown> {
  const model = new SystemdModel(bus);
  const known = (name: string): Unit => {
    const unit = model.find(name);
    if (!unit) throw new Error(`no unit ${name}`);
    return unit;
  };
  return {
    setUnit: (spec: UnitSpec) => model.setUnit(spec),
    unit: (name: string) => known(name).snapshot(),
    completeJobs: ({ unit, result }: { unit: string; result: JobResult }) => {
      const job = known(unit).job;
      if (job) model.finish(job, result);
      return job ? 1 : 0;
    },
  };
}

if (require.main === module) runStandinMain(SYSTEMD_BUS_NAME, serve);
