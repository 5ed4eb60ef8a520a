// The lab's cache lives outside the repository: a 70 MB kernel package and the images built from it
// are kept between runs, keyed by what they were built from, so a later run costs seconds of setup.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { LabError } from './command';

export const DEFAULT_LAB_CACHE = '/var/cache/gpu-hookd-lab';

export function labCacheDir(): string {
  const dir = process.env.GPU_HOOKD_LAB_CACHE || DEFAULT_LAB_CACHE;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new LabError(
      `the lab cache ${dir} cannot be written (${(e as NodeJS.ErrnoException).code}): run as root or set GPU_HOOKD_LAB_CACHE to a writable directory`,
    );
  }
  return dir;
}

/** A short stable key for the inputs of a build (file contents, versions, lists). */
export function contentKey(...parts: (string | Buffer)[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 12);
}

/**
 * Returns `target`, building it first when absent. The build writes into a scratch path next to
 * the target and is renamed into place only when complete, so an interrupted build is never used.
 */
export async function cachedArtifact(target: string, build: (scratch: string) => Promise<void>): Promise<string> {
  if (fs.existsSync(target)) return target;
  const scratch = `${target}.partial-${process.pid}`;
  fs.rmSync(scratch, { recursive: true, force: true });
  try {
    await build(scratch);
    try {
      fs.renameSync(scratch, target);
    } catch (e) {
      // another run finished the same build first: theirs is as good as ours
      if (!fs.existsSync(target)) throw e;
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return target;
}
