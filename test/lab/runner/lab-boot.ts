// One boot of the lab guest: write the job to a fresh output directory, run QEMU with a bound, read
// the agent's result back. Any way the boot can go wrong ends in a LabError that says which, with
// the last lines of the guest's console.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestJob, GuestResult } from '../lab-job';
import { LabError, runBounded } from './command';
import { LabImage } from './lab-image';
import { MachineFiles, MachineSpec, qemuArgs } from './qemu-machine';

export interface LabBoot {
  result: GuestResult;
  /** The guest's serial console, start to power-off. */
  console: string;
  /** QEMU start to exit, on this machine's clock. */
  wallMs: number;
}

/** A TCG boot takes 10-20 s and the agent a few more (several times that on a loaded machine); this bounds a stuck guest. */
export const DEFAULT_BOOT_TIMEOUT_MS = 240_000;

export async function bootLab(
  image: LabImage,
  name: string,
  machine: MachineSpec,
  job: GuestJob,
  timeoutMs = DEFAULT_BOOT_TIMEOUT_MS,
  /** More 9p shares by mount tag (the nested scenario's QEMU sysroot); the agent mounts them. */
  extraShares: MachineFiles['shares'] = {},
): Promise<LabBoot> {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), `gpu-hookd-lab-${name}-`));
  let keep = true;
  try {
    fs.writeFileSync(path.join(outDir, 'job.json'), JSON.stringify(job));
    const args = qemuArgs(machine, {
      kernel: image.kernel.vmlinuz,
      initramfs: image.initramfs,
      shares: {
        project: { dir: image.projectDir, writable: false },
        sysroot: { dir: image.sysroot.dir, writable: false },
        out: { dir: outDir, writable: true },
        ...extraShares,
      },
    });
    const run = await runBounded('qemu-system-x86_64', args, { timeoutMs });
    const console = run.stdout;
    fs.writeFileSync(path.join(outDir, 'console.log'), console);
    const where = `(console and output kept in ${outDir})`;
    if (run.timedOut) {
      throw new LabError(`lab scenario ${name}: the guest did not power off within ${timeoutMs / 1000} s and QEMU was killed ${where}:\n${tail(console)}`);
    }
    if (run.code !== 0) {
      throw new LabError(`lab scenario ${name}: QEMU exited with ${run.code ?? run.signal}: ${run.stderr.trim() || 'no message'} ${where}:\n${tail(console)}`);
    }
    const resultFile = path.join(outDir, 'result.json');
    if (!fs.existsSync(resultFile)) {
      throw new LabError(`lab scenario ${name}: the guest agent wrote no result ${where}:\n${tail(console)}`);
    }
    const result = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as GuestResult;
    if (result.error) {
      throw new LabError(`lab scenario ${name}: the guest agent failed ${where}: ${result.error}`);
    }
    keep = false;
    return { result, console, wallMs: run.wallMs };
  } finally {
    if (!keep) fs.rmSync(outDir, { recursive: true, force: true });
  }
}

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
