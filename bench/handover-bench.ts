// Benchmark of the single-GPU handover on the simulated seed host, with the systemd and logind
// stand-ins on a private bus answering at once (jobs end as soon as they are queued): the handover
// detach and its return, against the bare group detach and attach of the same GPU, in alternating
// rounds on the same host and engine so that machine load hits both alike. Hook scripts in the wild
// sleep 2-10 s here; the handover waits only for what it asked for.
//
// The display manager's processes (sddm, and Xorg holding /dev/dri/card0) are ended in the
// simulated /proc once before the rounds, as they are once it has stopped: the stand-in's jobs do
// not touch the simulated host, so a running Xorg would make every handover refuse.
// Needs root (a private dbus-daemon). Usage: node dist/bench/handover-bench.js [--runs N]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HandoverSettings } from '../src/engine/handover-plan';
import { TransitionEngine, type TransitionReport } from '../src/engine/transition-engine';
import { callMethod } from '../src/host/dbus-client';
import { hostServicesOn } from '../src/host/host-services';
import { simProcessAccess } from '../src/sim/open-host';
import { loadScenario } from '../src/sim/scenarios';
import { createSimHost } from '../src/sim/sim-host';
import { endSimProcess } from '../src/sim/sim-processes';
import { startLogindStandin } from '../src/sim/desktop/logind-standin';
import { startPrivateSystemBus } from '../test/support/private-bus';
import { startSystemdStandin } from '../src/sim/desktop/systemd-standin';
import { median } from './bench-stats';

const GPU = '0000:01:00.0';
const SEED_DM_PIDS = [812, 845];
const SHM = '/dev/shm';
const SETTINGS: HandoverSettings = { displayManagerUnit: 'display-manager.service', endSessions: true, unloadModules: false, holders: 'refuse' };

function runsFromArgs(argv: string[]): number {
  const i = argv.indexOf('--runs');
  const n = i >= 0 ? Number(argv[i + 1]) : 30;
  if (!Number.isInteger(n) || n < 1) throw new Error('--runs wants a positive integer');
  return n;
}

function ms(value: number): string {
  return `${value.toFixed(2)} ms`;
}

async function main(): Promise<void> {
  const runs = runsFromArgs(process.argv.slice(2));
  const simDir = fs.mkdtempSync(path.join(fs.existsSync(SHM) ? SHM : os.tmpdir(), 'gpu-hookd-handover-bench-'));
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-handover-bench-state-'));
  const sim = await createSimHost(loadScenario('seed'), { zeroDelays: true, dir: path.join(simDir, 'host') });
  const bus = await startPrivateSystemBus();
  const systemd = await startSystemdStandin(bus, { units: [{ name: 'sddm.service', aliases: ['display-manager.service'], activeState: 'active' }] });
  const logind = await startLogindStandin(bus, { sessions: [] });
  const conn = bus.connect();
  const services = hostServicesOn(conn);
  try {
    await callMethod(conn, { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetId' });
    for (const pid of SEED_DM_PIDS) endSimProcess(sim.root, pid);
    const engine = new TransitionEngine({ io: sim.io, processes: simProcessAccess(sim.io), stateDir, services });

    const samples = { handoverDetach: [] as number[], handoverAttach: [] as number[], bareDetach: [] as number[], bareAttach: [] as number[] };
    const steps = new Map<string, number[]>();
    const collect = (report: TransitionReport): void => {
      for (const s of report.steps) steps.set(s.description, [...(steps.get(s.description) ?? []), s.ms]);
    };
    // One warm-up cycle of each: the first handover also sees efifb go for good.
    await engine.detach(GPU, { owner: 'bench', handover: SETTINGS });
    await engine.attach(GPU);
    await engine.detach(GPU, { owner: 'bench' });
    await engine.attach(GPU);
    for (let i = 0; i < runs; i++) {
      const detach = await engine.detach(GPU, { owner: 'bench', handover: SETTINGS });
      const attach = await engine.attach(GPU);
      samples.handoverDetach.push(detach.totalMs);
      samples.handoverAttach.push(attach.totalMs);
      collect(detach);
      collect(attach);
      samples.bareDetach.push((await engine.detach(GPU, { owner: 'bench' })).totalMs);
      samples.bareAttach.push((await engine.attach(GPU)).totalMs);
    }

    const hd = median(samples.handoverDetach);
    const ha = median(samples.handoverAttach);
    const bd = median(samples.bareDetach);
    const ba = median(samples.bareAttach);
    console.log(`single-GPU handover on the simulated seed host, stand-ins answering at once, ${runs} runs (medians)`);
    console.log(`  handover detach  ${ms(hd).padStart(10)}   bare group detach ${ms(bd).padStart(10)}   ratio ${(hd / bd).toFixed(2)}`);
    console.log(`  handover return  ${ms(ha).padStart(10)}   bare group attach ${ms(ba).padStart(10)}   ratio ${(ha / ba).toFixed(2)}`);
    console.log(`  whole cycle      ${ms(hd + ha).padStart(10)}   bare cycle        ${ms(bd + ba).padStart(10)}   ratio ${((hd + ha) / (bd + ba)).toFixed(2)}`);
    console.log('  handover steps (median):');
    const own = ['stop ', 'start ', 'end the graphical', 'check that no process', 'unbind vtconsole', 'bind vtconsole', 'unbind efi', 'bind efi'];
    for (const [description, values] of steps) {
      if (own.some((p) => description.startsWith(p))) console.log(`    ${description.padEnd(46)} ${ms(median(values)).padStart(10)}`);
    }
  } finally {
    await services.close();
    conn.disconnect();
    await systemd.stop();
    await logind.stop();
    await bus.stop();
    await sim.dispose();
    fs.rmSync(simDir, { recursive: true, force: true });
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`handover-bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
