// The real gpu-hookd, started the way systemd starts it (its own process and main) but with the
// simulator as its host, pointed at the demo's simulated host, private bus and state directory. Its log goes to a
// file the demo shows when something fails.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface DemoDaemon {
  /** Known as soon as the process exists, so an interrupted demo can always end it. */
  pid: number;
  logFile: string;
  /** Resolves once the daemon logs that it owns its bus name; fails (with its log) if it exits or takes too long. */
  ready(timeoutMs?: number): Promise<void>;
  /** The daemon's log so far. */
  log(): string;
  /** SIGTERM by PID (SIGKILL if it has not exited within the grace time); resolves with how it ended. */
  stop(graceMs?: number): Promise<string>;
}

export interface DemoDaemonOptions {
  root: string;
  busAddress: string;
  stateDir: string;
  /** node_exporter's textfile directory, where the daemon keeps gpu-hookd.prom. */
  metricsDir: string;
  configFile: string;
  logFile: string;
}

// The daemon's own main with the simulator as its host (src/sim/daemon-main.ts).
const ENTRY = path.resolve(__dirname, '../sim/daemon-main.js');

export function startDemoDaemon(opts: DemoDaemonOptions): DemoDaemon {
  const out = fs.openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [ENTRY, '--root', opts.root, '--bus', opts.busAddress, '--state-dir', opts.stateDir, '--metrics-dir', opts.metricsDir, '--config', opts.configFile], {
      stdio: ['ignore', out, out],
      // Only what the daemon needs: no NOTIFY_SOCKET or JOURNAL_STREAM from the shell around us.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
  } finally {
    fs.closeSync(out);
  }
  const pid = child.pid as number;
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(code === null ? `was ended by ${signal}` : `exited with status ${code}`)));
  const log = (): string => fs.readFileSync(opts.logFile, 'utf8');
  return {
    pid,
    logFile: opts.logFile,
    log,
    ready: async (timeoutMs = 15_000) => {
      const ready = await Promise.race([waitForLine(log, /"event":"ready"/, timeoutMs), exited]);
      if (ready !== true) {
        throw new Error(`gpu-hookd ${ready === false ? `logged no "ready" within ${timeoutMs / 1000} s` : ready} (its log: ${opts.logFile})`);
      }
    },
    stop: async (graceMs = 10_000) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const ended = await exited;
      clearTimeout(timer);
      return ended;
    },
  };
}

/** Bounded wait for a pattern in a growing file, re-read each time it changes. */
function waitForLine(read: () => string, pattern: RegExp, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const check = (): boolean => pattern.test(read());
    if (check()) return resolve(true);
    const timer = setInterval(() => {
      if (!check()) return;
      clearInterval(timer);
      clearTimeout(deadline);
      resolve(true);
    }, 20);
    const deadline = setTimeout(() => {
      clearInterval(timer);
      resolve(false);
    }, timeoutMs);
  });
}
