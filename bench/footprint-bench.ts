// What a gpu-hookd process carries: the modules it has loaded and its RSS once idle, for each entry
// given (default: the product's dist/src/daemon/main.js, what a real host runs, and the simulated
// daemon dist/src/sim/daemon-main.js that the tests and the demo start), each on its own simulated
// seed host and private system-like bus, one after another.
// Usage: node dist/bench/footprint-bench.js [--entry FILE]... [--settle-seconds N]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSimHost } from '../src/sim/sim-host';
import { loadScenario } from '../src/sim/scenarios';
import { startPrivateSystemBus } from '../test/support/private-bus';
import { signalPid, spawnTracked, waitFor } from '../test/support/processes';

const DIST = path.resolve(__dirname, '..');
const DEFAULT_ENTRIES = [path.join(DIST, 'src/daemon/main.js'), path.join(DIST, 'src/sim/daemon-main.js')];
const POLICY = path.resolve(DIST, '../systemd/org.gpuhookd1.conf');

/** Loaded into the daemon with --require: on SIGUSR2 it writes the files of every module loaded so far. */
const PRELOAD = `const fs = require('node:fs');
process.on('SIGUSR2', () => fs.writeFileSync(process.env.FOOTPRINT_OUT, JSON.stringify(Object.keys(require.cache))));
`;

interface Footprint {
  entry: string;
  rssMb: number;
  modules: { all: number; own: number; simulator: number; demo: number; dependencies: number };
}

function parseOptions(argv: string[]): { entries: string[]; settleSeconds: number } {
  const entries: string[] = [];
  let settleSeconds = 15;
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (argv[i] === '--entry' && next !== undefined) entries.push(path.resolve(next));
    else if (argv[i] === '--settle-seconds' && Number.isInteger(Number(next)) && Number(next) > 0) settleSeconds = Number(next);
    else throw new Error(`unknown or incomplete option ${argv[i]}; usage: footprint-bench.js [--entry FILE]... [--settle-seconds N]`);
    i++;
  }
  return { entries: entries.length > 0 ? entries : DEFAULT_ENTRIES, settleSeconds };
}

async function measure(entry: string, settleSeconds: number): Promise<Footprint> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-footprint-'));
  const sim = await createSimHost(loadScenario('seed'), { dir: path.join(work, 'host') });
  const bus = await startPrivateSystemBus({ policyFiles: [POLICY] });
  const preload = path.join(work, 'preload.js');
  const out = path.join(work, 'modules.json');
  fs.writeFileSync(preload, PRELOAD);
  fs.writeFileSync(path.join(work, 'config.json'), '{}\n');
  const log = fs.openSync(path.join(work, 'daemon.log'), 'a');
  const child = spawnTracked(
    process.execPath,
    ['--require', preload, entry, '--root', sim.root, '--bus', bus.address, '--state-dir', path.join(work, 'state'), '--config', path.join(work, 'config.json')],
    { stdio: ['ignore', log, log], env: { PATH: process.env.PATH, FOOTPRINT_OUT: out } },
  );
  fs.closeSync(log);
  try {
    const pid = child.pid as number;
    await waitFor(`gpu-hookd ready (log: ${work}/daemon.log)`, () => fs.readFileSync(path.join(work, 'daemon.log'), 'utf8').includes('"event":"ready"'), { timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, settleSeconds * 1000));
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    signalPid(pid, 'SIGUSR2');
    await waitFor('the module list', () => fs.existsSync(out), { timeoutMs: 5_000 });
    const files = (JSON.parse(fs.readFileSync(out, 'utf8')) as string[]).filter((f) => f !== preload);
    const own = files.filter((f) => /\/dist\/src\//.test(f));
    return {
      entry: path.relative(path.resolve(DIST, '..'), entry),
      rssMb: rssKb / 1024,
      modules: {
        all: files.length,
        own: own.length,
        simulator: own.filter((f) => f.includes('/dist/src/sim/')).length,
        demo: own.filter((f) => f.includes('/dist/src/demo/')).length,
        dependencies: files.filter((f) => f.includes('/node_modules/')).length,
      },
    };
  } finally {
    if (child.exitCode === null) signalPid(child.pid as number, 'SIGTERM');
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
    await bus.stop();
    await sim.dispose();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { entries, settleSeconds } = parseOptions(process.argv.slice(2));
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; RSS after ${settleSeconds} s idle`);
  for (const entry of entries) {
    const f = await measure(entry, settleSeconds);
    const m = f.modules;
    console.log(`${f.entry}: RSS ${f.rssMb.toFixed(1)} MB; modules ${m.all} (own ${m.own}, of which simulator ${m.simulator}, demo ${m.demo}; dependencies ${m.dependencies})`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
