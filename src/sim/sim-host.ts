// Creating a simulated host: a directory holding the scenario's tree, and a SimHostIO on it; and
// rebooting one, for tests that need state left from an earlier boot.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildTree } from './build-tree';
import { Scenario } from './scenario';
import { MARKER_DIR, readScenarioOf, readState, SimPaths, withLock } from './sim-state';
import { SimHostIO } from './sim-host-io';

export interface SimHost {
  root: string;
  io: SimHostIO;
  /** Stops the emulator's timers in this process and removes the tree. */
  dispose(): Promise<void>;
}

export interface SimHostOptions {
  /** Where to build (must be empty or absent); default: a new directory under the temp dir. */
  dir?: string;
  /** Every probe completes at once (benchmarks); default: the scenario's probe delays apply. */
  zeroDelays?: boolean;
}

export async function createSimHost(scenario: Scenario, options: SimHostOptions = {}): Promise<SimHost> {
  let root: string;
  let created: boolean;
  if (options.dir !== undefined) {
    root = path.resolve(options.dir);
    if (root === '/' || root === path.parse(root).root) {
      throw new Error(`refusing to build a simulated host in ${root}: give an empty directory of its own`);
    }
    created = !fs.existsSync(root);
    if (!created && fs.readdirSync(root).length > 0) {
      throw new Error(`refusing to build a simulated host in ${root}: the directory is not empty`);
    }
    fs.mkdirSync(root, { recursive: true });
  } else {
    root = fs.mkdtempSync(path.join(os.tmpdir(), `gpu-hookd-sim-${scenario.name}-`));
    created = true;
  }
  buildTree(root, scenario, options.zeroDelays ?? false);
  const io = new SimHostIO(root);
  return {
    root,
    io,
    dispose: async () => {
      io.dispose();
      removeTree(root, created);
    },
  };
}

/** What a reboot starts afresh: sysfs, procfs, devtmpfs and the /run tmpfs. */
const VOLATILE_DIRS = ['sys', 'proc', 'dev', 'run'];

/**
 * Reboots the simulated host in `root`: a new boot_id, and modules, drivers, consoles and processes as
 * its scenario boots them; held groups, waiting unbinds, queued probes and everything under run/ are
 * gone. Other files under the root (a state directory in var/) and fault rules stay. SimHostIO
 * objects on the root, in any process, see the new boot.
 */
export function rebootSimHost(root: string): void {
  const paths = new SimPaths(path.resolve(root));
  if (!fs.existsSync(paths.state)) throw new Error(`refusing to reboot ${root}: it is not a simulated host (no ${paths.state})`);
  withLock(paths, () => {
    const scenario = readScenarioOf(paths);
    const { zeroDelays } = readState(paths);
    for (const dir of VOLATILE_DIRS) fs.rmSync(path.join(paths.root, dir), { recursive: true, force: true });
    fs.rmSync(paths.pendingFlag, { force: true });
    buildTree(paths.root, scenario, zeroDelays);
  }, { atomic: false });
}

/** Removes a simulated tree; refuses any directory that does not carry the simulator's marker. */
function removeTree(root: string, removeDir: boolean): void {
  if (!fs.existsSync(path.join(root, MARKER_DIR))) {
    if (!fs.existsSync(root)) return;
    throw new Error(`refusing to remove ${root}: it is not a simulated host (no ${MARKER_DIR})`);
  }
  if (removeDir) {
    fs.rmSync(root, { recursive: true, force: true });
    return;
  }
  for (const entry of fs.readdirSync(root)) fs.rmSync(path.join(root, entry), { recursive: true, force: true });
}
