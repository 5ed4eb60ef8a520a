// The simulator's command line, for the demo and for trying things by hand:
//   node dist/src/sim/main.js create <scenario|file.json> <dir> [--zero-delays]
//   node dist/src/sim/main.js snapshot <dir>
//   node dist/src/sim/main.js reboot <dir>
//   node dist/src/sim/main.js scenarios

import { openHostIO } from './open-host';
import { createSimHost, rebootSimHost } from './sim-host';
import { builtinScenarioNames, loadScenario } from './scenarios';
import { snapshotHost } from './snapshot';
import { MARKER_DIR } from './sim-state';
import * as fs from 'node:fs';
import * as path from 'node:path';

const USAGE = `usage: node dist/src/sim/main.js create <scenario|file.json> <dir> [--zero-delays]
       node dist/src/sim/main.js snapshot <dir>
       node dist/src/sim/main.js reboot <dir>
       node dist/src/sim/main.js scenarios`;

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const flags = rest.filter((a) => a.startsWith('--'));
  const args = rest.filter((a) => !a.startsWith('--'));
  const unknown = flags.filter((f) => f !== '--zero-delays' || verb !== 'create');
  if (unknown.length) return usage(`unknown option ${unknown[0]}`);
  switch (verb) {
    case 'create': {
      if (args.length !== 2) return usage('create needs a scenario and a directory');
      const host = await createSimHost(loadScenario(args[0]), { dir: args[1], zeroDelays: flags.includes('--zero-delays') });
      host.io.dispose();
      console.log(`simulated host "${host.io.scenario.name}" built in ${host.root}; use --root ${host.root}`);
      return 0;
    }
    case 'snapshot': {
      if (args.length !== 1) return usage('snapshot needs a directory');
      if (!fs.existsSync(path.join(args[0], MARKER_DIR))) {
        console.error(`${args[0]} is not a simulated host (no ${MARKER_DIR}); build one with "create"`);
        return 1;
      }
      console.log(JSON.stringify(snapshotHost(openHostIO(args[0])), null, 2));
      return 0;
    }
    case 'reboot': {
      if (args.length !== 1) return usage('reboot needs a directory');
      rebootSimHost(args[0]);
      console.log(`simulated host in ${args[0]} rebooted: boot_id ${openHostIO(args[0]).readText('proc/sys/kernel/random/boot_id')}`);
      return 0;
    }
    case 'scenarios':
      if (args.length !== 0) return usage('scenarios takes no arguments');
      console.log(builtinScenarioNames().join('\n'));
      return 0;
    default:
      return usage(verb === undefined ? 'no command given' : `unknown command ${verb}`);
  }
}

function usage(problem: string): number {
  console.error(`${problem}\n${USAGE}`);
  return 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}
