// A throwaway message bus for the demo: a real dbus-daemon on a socket in a temporary directory,
// runnable without root (unlike a system-like bus, which drops privileges to messagebus).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface DemoBus {
  /** Known as soon as the process exists, so an interrupted demo can always end it. */
  pid: number | undefined;
  /** The address dbus-daemon prints once it listens. */
  address: Promise<string>;
  /** Ends dbus-daemon by its PID; resolves once it has exited. */
  stop(): Promise<void>;
}

export function startDemoBus(dir: string): DemoBus {
  const socket = path.join(dir, 'bus.sock');
  const config = path.join(dir, 'bus.conf');
  fs.writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`,
  );
  const child = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const address = new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    child.once('error', (e) => reject(new Error(`cannot start dbus-daemon (${e.message}): install the dbus package`)));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim().split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`dbus-daemon exited with status ${code} before it listened: ${err.trim()}`)));
  });
  address.catch(() => undefined);
  return {
    pid: child.pid,
    address,
    stop: async () => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
