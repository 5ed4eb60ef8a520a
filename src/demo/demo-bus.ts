// A throwaway message bus for the demo: a real dbus-daemon on a socket in a temporary directory,
// runnable without root (unlike a system-like bus, which drops privileges to messagebus).

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface DemoBus {
  address: string;
  stop(): void;
}

export async function startDemoBus(dir: string): Promise<DemoBus> {
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
  let child: ChildProcess;
  try {
    child = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`cannot start dbus-daemon (${(e as Error).message}): install the dbus package`);
  }
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.once('error', (e) => reject(new Error(`cannot start dbus-daemon (${e.message}): install the dbus package`)));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim().split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`dbus-daemon exited with status ${code} before it listened`)));
  });
  return {
    address,
    stop: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}
