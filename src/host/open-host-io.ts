// Chooses the HostIO for a root: a directory built by the simulator (it holds .gpu-hookd-sim/) gets
// a SimHostIO re-attached to its tree, so a second process or a restarted daemon sees the same
// simulated kernel; anything else is a real kernel's /sys, /proc and /dev below that root.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { MARKER_DIR } from '../sim/sim-state';
import { SimHostIO } from '../sim/sim-host-io';
import { HostIO, SysfsHostIO } from './host-io';

export function openHostIO(root: string): HostIO {
  if (fs.existsSync(path.join(root, MARKER_DIR))) return new SimHostIO(root);
  return new SysfsHostIO(root);
}
