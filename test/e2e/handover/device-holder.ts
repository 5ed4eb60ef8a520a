// A real process of the test that holds a file of the simulated host open, as a compositor holds
// /dev/dri/card0: a node child opens <root>/dev/dri/card0 and waits. Adopted into the simulated
// /proc (src/sim/sim-processes.ts), its real fd link is what the holder scan reads.

import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { adoptProcess } from '../../../src/sim/sim-processes';
import { spawnTracked } from '../../support/processes';

const HOLD = `const fs = require('fs'); fs.openSync(process.argv[1], 'r'); process.stdout.write('open\\n'); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;

export interface DeviceHolder {
  pid: number;
  /** Resolves with the exit signal (null after a clean exit). */
  exited: Promise<NodeJS.Signals | null>;
  /** Closes its stdin, which makes it exit. */
  release(): Promise<void>;
}

/** Starts the holder of `<simRoot>/<node>` and adopts it into the simulated host's /proc. */
export async function holdDevice(simRoot: string, node: string): Promise<DeviceHolder> {
  const child: ChildProcess = spawnTracked(process.execPath, ['-e', HOLD, path.join(simRoot, node)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the holder of ${node} exited with code ${code} before opening it`)));
  });
  const pid = child.pid as number;
  adoptProcess(simRoot, pid);
  return {
    pid,
    exited,
    release: async () => {
      child.stdin?.end();
      await exited;
    },
  };
}
