// Run by crash-recovery.test.ts as a separate process: one handover detach on the simulated host at
// argv[2], state in argv[3], reaching the stand-ins on the private bus at argv[4], with the VM
// settings JSON in argv[5]. The test blocks one of its writes (or its display manager's stop job)
// and kills it with SIGKILL.

import * as dbus from 'dbus-next';
import type { HandoverSettings } from '../../../src/engine/handover-plan';
import { TransitionEngine } from '../../../src/engine/transition-engine';
import { hostServicesOn } from '../../../src/host/host-services';
import { openHost } from '../../../src/sim/open-host';
import { assertSafeTestRoot } from '../../support/temp-root';
import { GPU, TIMEOUTS } from './handover-host';

async function main(): Promise<void> {
  const [root, stateDir, busAddress, settings] = process.argv.slice(2);
  const conn = dbus.sessionBus({ busAddress });
  const services = hostServicesOn(conn);
  const host = openHost(assertSafeTestRoot(root));
  const engine = new TransitionEngine({ io: host.io, processes: host.processes, stateDir: assertSafeTestRoot(stateDir), timeouts: { ...TIMEOUTS, unitJobMs: 60_000, writeMs: 60_000 }, services });
  await engine.detach(GPU, { owner: 'win10', handover: JSON.parse(settings) as HandoverSettings });
  process.stdout.write('finished\n');
  conn.disconnect();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
