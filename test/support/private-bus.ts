// A real dbus-daemon with the system bus's own rules, on a socket of its own, for e2e tests. Its
// configuration is derived at runtime from the distribution's system.conf (so the default-deny policy
// and the drop to user messagebus are the real ones), with our listen path, pidfile and policy
// directory, and without fork, the setuid activation helper, syslog and the standard service and
// policy directories. The machine's real system bus is never touched.

import { type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as dbus from 'dbus-next';
import { XMLValidator } from 'fast-xml-parser';
import { runCommand, spawnTracked, stopPid, isRunning } from './processes';

export const SYSTEM_BUS_CONFIG = '/usr/share/dbus-1/system.conf';

export interface PrivateBusOptions {
  /** Policy files (paths) copied into the bus's policy directory before it starts. */
  policyFiles?: string[];
  /**
   * D-Bus service files (paths) for activation. Without the setuid helper, dbus-daemon starts an
   * activated service itself, as user messagebus.
   */
  serviceFiles?: string[];
}

export interface PrivateBus {
  /** The address as dbus-daemon printed it (unix:path=...,guid=...). */
  readonly address: string;
  readonly socketPath: string;
  readonly pid: number;
  /** Holds system.conf, the policy directory (system.d/) and the service directory (services/). */
  readonly configDir: string;
  /** Environment that points clients at this bus as their system bus. */
  readonly env: { DBUS_SYSTEM_BUS_ADDRESS: string };
  /**
   * Writes a policy file into the policy directory and reloads. dbus-daemon skips a policy file it
   * cannot parse without failing the reload, so the XML is checked for well-formedness first.
   */
  addPolicy(fileName: string, xml: string): Promise<void>;
  /** Removes a file addPolicy wrote, then ReloadConfig. */
  removePolicy(fileName: string): Promise<void>;
  /** Makes dbus-daemon re-read its configuration; resolves once it has (or fails naming the error). */
  reload(): Promise<void>;
  /** A dbus-next connection as this process's user (root in the e2e tests); disconnect it when done. */
  connect(): dbus.MessageBus;
  /** Ends dbus-daemon (by PID) and removes its directory. */
  stop(): Promise<void>;
}

export interface BusPaths {
  socketPath: string;
  pidFile: string;
  policyDir: string;
  serviceDir?: string;
}

/** The private bus's configuration, derived from the system bus's; fails if an expected element is missing. */
export function privateSystemBusConfig(systemConf: string, paths: BusPaths): string {
  const elements: [string, RegExp][] = [
    // Kept as it is: the bus must stay a system bus, with the system bus's policy semantics.
    ['<type>system</type>', /<type>system<\/type>/],
    ['<listen>', /<listen>[^<]*<\/listen>/],
    ['<pidfile>', /<pidfile>[^<]*<\/pidfile>/],
    ['<includedir>', /<includedir>[^<]*<\/includedir>/],
  ];
  for (const [what, pattern] of elements) {
    if (!pattern.test(systemConf)) {
      throw new Error(`${SYSTEM_BUS_CONFIG} has no ${what} element: the private test bus cannot be derived from it; check the dbus package`);
    }
  }
  const service = paths.serviceDir ? `\n  <servicedir>${xmlText(paths.serviceDir)}</servicedir>` : '';
  return systemConf
    .replace(/<listen>[^<]*<\/listen>/, `<listen>unix:path=${xmlText(paths.socketPath)}</listen>`)
    .replace(/<pidfile>[^<]*<\/pidfile>/, `<pidfile>${xmlText(paths.pidFile)}</pidfile>`)
    .replace(/<includedir>[^<]*<\/includedir>/, '<!--policy dir-->')
    .replace(/<includedir>[^<]*<\/includedir>/g, '')
    .replace('<!--policy dir-->', `<includedir>${xmlText(paths.policyDir)}</includedir>${service}`)
    .replace(/<fork\s*\/>/g, '')
    .replace(/<syslog\s*\/>/g, '')
    .replace(/<standard_system_servicedirs\s*\/>/g, '')
    .replace(/<servicehelper>[^<]*<\/servicehelper>/g, '')
    .replace(/<include\b[^>]*>\s*\/etc\/dbus-1\/[^<]*<\/include>/g, '');
}

function xmlText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export async function startPrivateSystemBus(options: PrivateBusOptions = {}): Promise<PrivateBus> {
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-bus-'));
  // dbus-daemon drops to messagebus and re-reads the config as that user on reload; test users
  // must reach the socket.
  fs.chmodSync(configDir, 0o755);
  const policyDir = path.join(configDir, 'system.d');
  const serviceDir = options.serviceFiles?.length ? path.join(configDir, 'services') : undefined;
  for (const dir of [policyDir, serviceDir]) if (dir) fs.mkdirSync(dir, { mode: 0o755 });
  const socketPath = path.join(configDir, 'system_bus_socket');
  const configFile = path.join(configDir, 'system.conf');
  try {
    copyReadable(options.policyFiles ?? [], policyDir);
    if (serviceDir) copyReadable(options.serviceFiles ?? [], serviceDir);
    const conf = privateSystemBusConfig(fs.readFileSync(SYSTEM_BUS_CONFIG, 'utf8'), { socketPath, pidFile: path.join(configDir, 'pid'), policyDir, serviceDir });
    fs.writeFileSync(configFile, conf, { mode: 0o644 });
    const { child, address } = await launchDaemon(configFile);
    return new RunningBus(address, socketPath, child.pid as number, configDir, policyDir);
  } catch (e) {
    fs.rmSync(configDir, { recursive: true, force: true });
    throw e;
  }
}

function assertWellFormed(xml: string, fileName: string): void {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new Error(`D-Bus policy ${fileName} is not well-formed XML (line ${valid.err.line}: ${valid.err.msg}): dbus-daemon would skip it silently; fix the file`);
  }
}

function copyReadable(files: string[], dir: string): void {
  for (const file of files) {
    if (file.endsWith('.conf')) assertWellFormed(fs.readFileSync(file, 'utf8'), file);
    const target = path.join(dir, path.basename(file));
    fs.copyFileSync(file, target);
    fs.chmodSync(target, 0o644);
  }
}

function launchDaemon(configFile: string): Promise<{ child: ChildProcess; address: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked('dbus-daemon', [`--config-file=${configFile}`, '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`dbus-daemon with ${configFile} printed no address within 10 s: ${stderr.trim()}`));
    }, 10_000);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const line = stdout.split('\n');
      if (line.length > 1) {
        clearTimeout(timer);
        resolve({ child, address: line[0].trim() });
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not start dbus-daemon: ${e.message}; install the dbus package`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dbus-daemon with ${configFile} exited with code ${code} before listening: ${stderr.trim()}`));
    });
  });
}

class RunningBus implements PrivateBus {
  readonly env: { DBUS_SYSTEM_BUS_ADDRESS: string };

  constructor(
    readonly address: string,
    readonly socketPath: string,
    readonly pid: number,
    readonly configDir: string,
    private readonly policyDir: string,
  ) {
    this.env = { DBUS_SYSTEM_BUS_ADDRESS: address };
  }

  async addPolicy(fileName: string, xml: string): Promise<void> {
    if (path.basename(fileName) !== fileName || !fileName.endsWith('.conf')) {
      throw new Error(`policy file name ${JSON.stringify(fileName)} must be a plain file name ending in .conf`);
    }
    assertWellFormed(xml, fileName);
    fs.writeFileSync(path.join(this.policyDir, fileName), xml, { mode: 0o644 });
    await this.reload();
  }

  async removePolicy(fileName: string): Promise<void> {
    if (path.basename(fileName) !== fileName) throw new Error(`policy file name ${JSON.stringify(fileName)} must be a plain file name`);
    fs.rmSync(path.join(this.policyDir, fileName));
    await this.reload();
  }

  async reload(): Promise<void> {
    // ReloadConfig answers only after the new configuration is in force, unlike SIGHUP.
    const result = await runCommand('dbus-send', [`--bus=${this.address}`, '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.ReloadConfig']);
    if (result.code !== 0) {
      throw new Error(`the private bus (pid ${this.pid}) refused to reload its configuration from ${this.configDir}: ${result.stderr.trim()}`);
    }
  }

  connect(): dbus.MessageBus {
    return dbus.sessionBus({ busAddress: this.address });
  }

  async stop(): Promise<void> {
    await stopPid(this.pid, { expectName: 'dbus-daemon' });
    if (isRunning(this.pid)) throw new Error(`dbus-daemon (pid ${this.pid}) is still running after SIGKILL`);
    fs.rmSync(this.configDir, { recursive: true, force: true });
  }
}
