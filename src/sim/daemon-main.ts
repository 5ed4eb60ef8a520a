#!/usr/bin/env node
// gpu-hookd on a simulated host, for the tests and the demo: the daemon's own main with the
// simulator's kernel and processes wired in (a root holding .gpu-hookd-sim/; any other root is a
// real kernel's, as for dist/src/daemon/main.js). The packages do not install it.

import { runDaemon } from '../daemon/main';
import { openHost } from './open-host';

if (require.main === module) {
  void runDaemon(process.argv.slice(2), openHost).then((code) => process.exit(code));
}
