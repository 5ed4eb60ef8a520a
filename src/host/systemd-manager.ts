// The client of systemd's manager (org.freedesktop.systemd1) on the system bus: start and stop units
// and wait for their jobs to finish (JobRemoved), read a unit's state, and set or read AllowedCPUs of
// slices, scopes and services. StartUnit/StopUnit answer at once with a job path; the job's end is
// only told by JobRemoved, so the match rule is installed (and Subscribe called) before the call.

import * as dbus from 'dbus-next';
import { BusCallError, callMethod, getAllProperties, SignalWatch } from './dbus-client';
import { formatMs } from './host-io';

export const SYSTEMD_BUS_NAME = 'org.freedesktop.systemd1';
export const SYSTEMD_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const UNIT = 'org.freedesktop.systemd1.Unit';

/** The cgroup interface that carries AllowedCPUs, by unit type. */
const CGROUP_INTERFACE: Record<string, string> = {
  service: 'org.freedesktop.systemd1.Service',
  slice: 'org.freedesktop.systemd1.Slice',
  scope: 'org.freedesktop.systemd1.Scope',
};

export interface UnitStatus {
  /** The unit's own name ("gdm.service" for "display-manager.service"). */
  id: string;
  /** "loaded", or "not-found" when no unit file exists. */
  loadState: string;
  activeState: string;
  subState: string;
}

export type JobResult = 'done' | 'canceled' | 'timeout' | 'failed' | 'dependency' | 'skipped' | string;

/** A unit job that ended with a result other than "done". */
export class UnitJobError extends Error {
  constructor(
    readonly unit: string,
    readonly verb: 'start' | 'stop',
    readonly result: JobResult,
  ) {
    super(`systemd's ${verb} job for ${unit} ended with result "${result}"`);
    this.name = 'UnitJobError';
  }
}

/** A unit job that did not end (JobRemoved) within the time given. */
export class UnitJobTimeoutError extends Error {
  constructor(
    readonly unit: string,
    readonly verb: 'start' | 'stop',
    readonly timeoutMs: number,
  ) {
    super(`${unit} did not ${verb} within ${formatMs(timeoutMs)} (systemd's ${verb} job is still running)`);
    this.name = 'UnitJobTimeoutError';
  }
}

export interface JobOptions {
  /** How long to wait for JobRemoved after systemd accepted the job. */
  timeoutMs: number;
  /** systemd's job mode; "replace" (the default) cancels a conflicting job in progress. */
  mode?: string;
}

export class SystemdManager {
  private readonly jobs: SignalWatch;

  constructor(private readonly bus: dbus.MessageBus) {
    this.jobs = new SignalWatch(bus, { sender: SYSTEMD_BUS_NAME, path: SYSTEMD_PATH, interface: MANAGER, member: 'JobRemoved' }, 1);
  }

  /** The unit's state; a name with no unit file reads loadState "not-found" (LoadUnit never fails for it). */
  async unitStatus(name: string): Promise<UnitStatus> {
    const path = await this.unitPath(name);
    const p = await getAllProperties(this.bus, SYSTEMD_BUS_NAME, path, UNIT);
    return { id: String(p.Id ?? name), loadState: String(p.LoadState ?? ''), activeState: String(p.ActiveState ?? ''), subState: String(p.SubState ?? '') };
  }

  /** StopUnit, then waits for the job's JobRemoved; throws UnitJobError / UnitJobTimeoutError. */
  stopUnit(name: string, opts: JobOptions): Promise<void> {
    return this.runJob('StopUnit', 'stop', name, opts);
  }

  /** StartUnit, then waits for the job's JobRemoved; throws UnitJobError / UnitJobTimeoutError. */
  startUnit(name: string, opts: JobOptions): Promise<void> {
    return this.runJob('StartUnit', 'start', name, opts);
  }

  /**
   * Sets AllowedCPUs of a slice, scope or service; `mask` is systemd's byte mask (bit n%8 of byte
   * n/8 is CPU n; empty means every CPU). `runtime` true: until reboot, nothing written to /etc.
   */
  async setAllowedCpus(unit: string, mask: Uint8Array | readonly number[], runtime = true): Promise<void> {
    await this.manager('SetUnitProperties', 'sba(sv)', [unit, runtime, [['AllowedCPUs', new dbus.Variant('ay', Buffer.from([...mask]))]]]);
  }

  /** AllowedCPUs of a slice, scope or service as systemd's byte mask ([] = every CPU). */
  async allowedCpus(unit: string): Promise<number[]> {
    const iface = CGROUP_INTERFACE[unit.slice(unit.lastIndexOf('.') + 1)];
    if (!iface) throw new Error(`${unit} is not a slice, scope or service, so it has no AllowedCPUs`);
    const props = await getAllProperties(this.bus, SYSTEMD_BUS_NAME, await this.unitPath(unit), iface);
    const value = props.AllowedCPUs;
    return value === undefined ? [] : [...(value as Uint8Array)];
  }

  /** Removes the match rule this client installed. */
  close(): Promise<void> {
    return this.jobs.close();
  }

  private async unitPath(name: string): Promise<string> {
    const [path] = await this.manager('LoadUnit', 's', [name]);
    return String(path);
  }

  private async runJob(method: 'StartUnit' | 'StopUnit', verb: 'start' | 'stop', name: string, opts: JobOptions): Promise<void> {
    await this.subscribe();
    const [, , , result] = await this.jobs.callAndWait(
      async () => String((await this.manager(method, 'ss', [name, opts.mode ?? 'replace']))[0]),
      opts.timeoutMs,
      () => new UnitJobTimeoutError(name, verb, opts.timeoutMs),
    );
    if (result !== 'done') throw new UnitJobError(name, verb, String(result));
  }

  private subscribed: Promise<void> | undefined;

  /** systemd sends JobRemoved only while some client is subscribed. */
  private subscribe(): Promise<void> {
    this.subscribed ??= this.manager('Subscribe', '', []).then(
      () => undefined,
      (e: unknown) => {
        // Another client object on this connection subscribed it already: the signals come.
        if (e instanceof BusCallError && e.errorName === 'org.freedesktop.systemd1.AlreadySubscribed') return;
        this.subscribed = undefined;
        throw e;
      },
    );
    return this.subscribed;
  }

  private manager(member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    return callMethod(this.bus, { destination: SYSTEMD_BUS_NAME, path: SYSTEMD_PATH, interface: MANAGER, member, signature, body });
  }
}
