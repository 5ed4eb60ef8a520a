// A simulated desktop for the single-GPU handover: the systemd and logind stand-ins on the bus, and
// a display manager whose processes live on the simulated host. When the stand-in's stop job for the
// display manager starts, its processes (sddm and the Xorg holding /dev/dri/card0 on
// the seed) exit from the simulated /proc, and only then does the job end (JobRemoved), as systemd
// reports a stop once the unit's processes are gone; a start job brings them back first.
//
// Its starter scripts a job that never ends ('never') or fails through `dm`.

import * as dbus from 'dbus-next';
import { endSimProcess, startSimProcess } from '../sim-processes';
import { startLogindStandin, type LogindStandin, type SessionSpec } from './logind-standin';
import type { StandinBus } from './standin-channel';
import { startSystemdStandin, SYSTEMD_BUS_NAME, SYSTEMD_PATH, type JobResult, type SystemdStandin, type UnitSpec } from './systemd-standin';

export const DM_UNIT = 'sddm.service';

export interface DesktopOptions {
  /** The display manager's processes on the simulated host (seed: sddm 812, Xorg 845). */
  dmPids: number[];
  /** How the display manager's jobs end; default "done". "never": the job runs until its starter ends it. */
  dm?: { stop?: JobResult | 'never'; start?: JobResult | 'never' };
  /** More units (nvidia-persistenced.service), each with the simulated processes that end and start with it. */
  units?: (UnitSpec & { pids?: number[] })[];
  sessions?: SessionSpec[];
}

export interface SimulatedDesktop {
  systemd: SystemdStandin;
  logind: LogindStandin;
  stop(): Promise<void>;
}

interface ManagedUnit {
  name: string;
  pids: number[];
  jobs: { stop: JobResult | 'never'; start: JobResult | 'never' };
}

export async function startSimulatedDesktop(bus: StandinBus, simRoot: string, opts: DesktopOptions): Promise<SimulatedDesktop> {
  const managed: ManagedUnit[] = [
    { name: DM_UNIT, pids: opts.dmPids, jobs: { stop: opts.dm?.stop ?? 'done', start: opts.dm?.start ?? 'done' } },
    ...(opts.units ?? []).map((u) => ({ name: u.name, pids: u.pids ?? [], jobs: { stop: 'done' as const, start: 'done' as const } })),
  ];
  // Every job of a managed unit is ended by the bridge below, after the processes changed.
  const units: UnitSpec[] = [
    { name: DM_UNIT, aliases: ['display-manager.service'], activeState: 'active', jobs: { stop: { result: 'never' }, start: { result: 'never' } } },
    ...(opts.units ?? []).map(({ pids: _pids, ...u }) => ({ activeState: 'active' as const, ...u, jobs: { stop: { result: 'never' as const }, start: { result: 'never' as const } } })),
  ];
  const systemd = await startSystemdStandin(bus, { units });
  // A session's processes (pids) live on this simulated host, and exit with the session.
  const logind = await startLogindStandin(bus, { sessions: (opts.sessions ?? []).map((session) => ({ simRoot, ...session })) });
  const watcher = dbus.sessionBus({ busAddress: bus.address });
  const bridged: Promise<void>[] = [];

  const onJob = async (unitName: string): Promise<void> => {
    const unit = managed.find((u) => u.name === unitName);
    if (!unit) return;
    const job = (await systemd.unit(unit.name)).job;
    if (!job || job.type === 'restart') return;
    const verb = job.type;
    const result = unit.jobs[verb];
    if (result === 'never') return;
    if (result === 'done') for (const pid of unit.pids) (verb === 'stop' ? endSimProcess : startSimProcess)(simRoot, pid);
    await systemd.completeJobs(unit.name, result);
  };
  watcher.on('message', (msg: dbus.Message) => {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.member !== 'JobNew' || msg.path !== SYSTEMD_PATH) return;
    bridged.push(onJob(String(msg.body[2])).catch(() => undefined));
  });
  await watcher.call(
    new dbus.Message({
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      interface: 'org.freedesktop.DBus',
      member: 'AddMatch',
      signature: 's',
      body: [`type='signal',sender='${SYSTEMD_BUS_NAME}',path='${SYSTEMD_PATH}',member='JobNew'`],
    }),
  );

  return {
    systemd,
    logind,
    stop: async () => {
      watcher.disconnect();
      await Promise.all(bridged.splice(0));
      await systemd.stop();
      await logind.stop();
    },
  };
}
