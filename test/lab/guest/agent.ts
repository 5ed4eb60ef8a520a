// The guest agent: runs inside the lab guest on the real kernel with the project's own code, does
// what the job asks and writes the result as JSON to the output share. Usage: agent.js JOB RESULT

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SysfsHostIO } from '../../../src/host/host-io';
import type { CliOutcome, GuestJob, GuestResult } from '../lab-job';
import { runBounded } from '../runner/command';
import { runBenchJob } from './bench-job';
import { runNestedJob } from '../nested/guest/nested-run';
import { runLibvirtJob } from '../libvirt/guest/libvirt-run';
import { snapshotHost } from '../../../src/sim/snapshot';
import { runTransitionJob, waitForDrivers } from './transition-job';

/** The project as shared into the guest, from this file's place in dist/test/lab/guest/. */
const PROJECT = path.resolve(__dirname, '../../../..');
/** On tmpfs: the guest has no disk. */
const STATE_DIR = '/run/gpu-hookd';
const CLI_TIMEOUT_MS = 60_000;

async function main(): Promise<void> {
  const [jobFile, resultFile] = process.argv.slice(2);
  const job = JSON.parse(fs.readFileSync(jobFile, 'utf8')) as GuestJob;
  const result: GuestResult = { job, kernel: os.release() };
  try {
    const io = new SysfsHostIO('/');
    fs.mkdirSync(STATE_DIR, { recursive: true });
    if (job.kind === 'transitions') {
      await waitForDrivers(io, job.settle);
      if (job.list) result.list = await gpuHookctl(['list', '--json']);
      Object.assign(result, await runTransitionJob(job, { io, stateDir: STATE_DIR, snapshot: snapshotHost }));
    } else if (job.kind === 'nested') {
      result.nested = await runNestedJob(job, { io, stateDir: STATE_DIR, cli: gpuHookctl });
    } else if (job.kind === 'libvirt') {
      result.libvirt = await runLibvirtJob(job, { io, stateDir: STATE_DIR, projectDir: PROJECT });
    } else {
      // Off the 9p share, so that reading the script is no part of what is timed.
      const floorScript = '/run/floor.sh';
      fs.copyFileSync(path.join(PROJECT, 'test/lab/guest/floor.sh'), floorScript);
      result.bench = await runBenchJob(job, { io, stateDir: STATE_DIR, floorScript });
    }
  } catch (e) {
    result.error = e instanceof Error ? (e.stack ?? e.message) : String(e);
  }
  fs.writeFileSync(resultFile, JSON.stringify(result));
}

async function gpuHookctl(args: string[]): Promise<CliOutcome> {
  const cli = path.join(PROJECT, 'dist/src/cli/main.js');
  const r = await runBounded(process.execPath, [cli, ...args], { timeoutMs: CLI_TIMEOUT_MS });
  return { exitCode: r.code, stdout: r.stdout, stderr: r.stderr };
}

void main();
