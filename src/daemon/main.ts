#!/usr/bin/env node
// gpu-hookd: the systemd service. Reads the config (file < environment < flags), starts the daemon,
// follows config edits live, tells systemd READY/STATUS/WATCHDOG/STOPPING, and on SIGTERM stops
// between transitions, never in the middle of one.

import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigError, DAEMON_USAGE, loadConfig, parseDaemonArgs, type DaemonArgs, vmSettings, type ResolvedConfig } from './config';
import { watchConfig } from './config-watcher';
import { createLogger, JOURNAL_SOCKET, setLogLevel } from './logger';
import { createNotifier } from './sd-notify';
import { startDaemon, type DaemonHost, type RunningDaemon } from './daemon';
import { SysfsHostIO } from '../host/host-io';
import { hostProcessAccess } from '../cpu/process-access';
import { exportLogControl } from '../dbus/log-control';
import { engineTimeouts } from './engine-timeouts';
import { runningDomainCheck } from '../libvirt/running-domains';
import { hookDomainsPublisher } from './hook-domains';

export function packageVersion(): string {
  for (const candidate of ['../../../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(path.join(__dirname, candidate), 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (installed package vs. source checkout)
    }
  }
  return 'unknown';
}

/** A real host: the kernel's files below the root, its processes through taskset and kill. */
export function realHost(root: string): DaemonHost {
  const io = new SysfsHostIO(root);
  return { io, processes: hostProcessAccess(io) };
}

/** The daemon's process; `openHost` is the one place its host is chosen. */
export async function runDaemon(argv: string[], openHost: (root: string) => DaemonHost): Promise<number> {
  let args: DaemonArgs;
  let config: ResolvedConfig;
  try {
    args = parseDaemonArgs(argv);
    if (args.help) {
      process.stdout.write(`${DAEMON_USAGE}\n`);
      return 0;
    }
    config = loadConfig({ env: process.env, args });
  } catch (e) {
    process.stderr.write(`gpu-hookd: ${(e as Error).message}\n`);
    return e instanceof ConfigError ? 78 /* EX_CONFIG: systemd shows it as a config error */ : 2;
  }

  // Under systemd each event goes to journald's native socket, its fields as journal fields.
  const log = createLogger({ level: config.log.level, journalSocket: JOURNAL_SOCKET });
  const notifier = createNotifier(process.env, { onError: (e) => log.warn({ event: 'sd-notify', err: e.message }, 'could not notify systemd') });
  if (!config.file.found) log.info({ event: 'config', path: config.file.path }, `no config file at ${config.file.path}: using defaults`);

  // Signals are taken before anything starts: systemd may send SIGTERM at any time, and node's default
  // would end the daemon mid-recovery or with its name owned. A stop asked for while starting waits
  // for the start to finish, then stops as any other.
  let daemon: RunningDaemon | undefined;
  let stopAsked = false;
  const stopRequested = new Promise<void>((resolve) => {
    const request = (signal: string): void => {
      if (stopAsked) return;
      stopAsked = true;
      const when = daemon ? 'stopping after the transition in flight, if any' : 'stopping as soon as the start has finished';
      log.info({ event: 'signal', signal, starting: !daemon }, `${signal}: ${when}`);
      resolve();
    };
    process.on('SIGTERM', () => request('SIGTERM'));
    process.on('SIGINT', () => request('SIGINT'));
  });
  // A SIGHUP while starting needs nothing more: the file is read once more right after the start.
  process.on('SIGHUP', () => daemon && reloadFromFile('SIGHUP'));

  let current = config;
  // Which VMs the libvirt hook forwards though their XML names nothing of ours: in place before the name is owned.
  const publishHookDomains = hookDomainsPublisher(config.state.dir, log);
  await publishHookDomains(config);
  try {
    daemon = await startDaemon({
      host: openHost(config.host.root),
      busAddress: config.bus.address,
      stateDir: config.state.dir,
      metricsDir: config.metrics.textfileDir,
      accessGroup: config.access.group,
      version: packageVersion(),
      log,
      notifier,
      timeouts: engineTimeouts(config),
      isVmRunning: runningDomainCheck({
        onError: (e) => log.warn({ event: 'reconcile', err: e.message }, `keeping GPUs recorded for VMs: ${e.message}`),
      }),
      handoverSettings: (vm, metadata) => vmSettings(current, vm, metadata),
      resetRiskPolicy: (vm, metadata) => vmSettings(current, vm, metadata).resetRisk,
      cpuSettings: (vm, metadata) => vmSettings(current, vm, metadata),
      reloadConfig: async () => {
        current = loadConfig({ env: process.env, args });
        await applyConfig(current);
      },
    });
  } catch (e) {
    log.fatal({ event: 'start-failed', err: (e as Error).message }, `gpu-hookd could not start: ${(e as Error).message}`);
    return 1;
  }
  exportLogControl(daemon.bus.bus, daemon.bus.access, log);

  function applyConfig(next: ResolvedConfig): Promise<void> {
    setLogLevel(log, next.log.level);
    daemon?.bus.access.setGroup(next.access.group);
    if (next.host.root !== config.host.root || next.bus.address !== config.bus.address || next.state.dir !== config.state.dir || next.metrics.textfileDir !== config.metrics.textfileDir) {
      log.warn({ event: 'config' }, 'host.root, bus.address, state.dir and metrics.textfileDir take effect at the next start (systemctl restart gpu-hookd)');
    }
    return publishHookDomains(next);
  }

  const stopWatching = await watchConfig(
    config.file.path,
    (next) => {
      current = next;
      void applyConfig(next);
      log.info({ event: 'config-reloaded', path: next.file.path }, 'config reloaded');
    },
    (err) => log.error({ event: 'config-invalid', key: err.key, err: err.message }, `config edit ignored, keeping the last good config: ${err.message}`),
    { env: process.env, args },
  ).then(
    (stop) => {
      log.info({ event: 'config-watching', path: config.file.path }, `following edits of ${config.file.path}`);
      return stop;
    },
    (e: unknown) => {
      log.warn({ event: 'config-watch', err: (e as Error).message }, `not watching ${config.file.path} for edits: ${(e as Error).message}`);
      return async () => undefined;
    },
  );
  // An edit made while the daemon was starting came before the watcher: read the file once more.
  reloadFromFile('edited during start', true);
  const stopWatchdog = notifier.startWatchdog();

  await stopRequested;
  stopWatchdog();
  try {
    await stopWatching();
    await daemon.stop();
    return 0;
  } catch (e) {
    log.error({ event: 'stop-failed', err: String(e) }, `gpu-hookd could not stop cleanly: ${String(e)}`);
    return 1;
  }

  function reloadFromFile(why: string, onlyIfChanged = false): void {
    try {
      const next = loadConfig({ env: process.env, args });
      if (onlyIfChanged && JSON.stringify(next) === JSON.stringify(current)) return;
      current = next;
      void applyConfig(next);
      log.info({ event: 'config-reloaded', path: next.file.path }, `config reloaded (${why})`);
    } catch (e) {
      const key = e instanceof ConfigError ? e.key : '';
      log.error({ event: 'config-invalid', key, err: (e as Error).message }, `config reload ignored, keeping the last good config: ${(e as Error).message}`);
    }
  }
}

if (require.main === module) {
  void runDaemon(process.argv.slice(2), realHost).then((code) => process.exit(code));
}
