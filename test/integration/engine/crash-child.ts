// Run by crash-recovery.test.ts as a separate process: one transition on the simulated host at
// argv[2] with its state in argv[3] (argv[6]: the probe timeout in ms). The test blocks one of its writes and kills it with SIGKILL.

import { TransitionEngine } from '../../../src/engine/transition-engine';
import { openHostIO } from '../../../src/sim/open-host';
import { assertSafeTestRoot } from '../../support/temp-root';

async function main(): Promise<void> {
  const [root, stateDir, kind, gpu, probeMs] = process.argv.slice(2);
  const timeouts = probeMs === undefined ? {} : { probeMs: Number(probeMs) };
  const engine = new TransitionEngine({ io: openHostIO(assertSafeTestRoot(root)), stateDir: assertSafeTestRoot(stateDir), timeouts });
  await (kind === 'attach' ? engine.attach(gpu) : engine.detach(gpu, { owner: 'win10' }));
  process.stdout.write('finished\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
