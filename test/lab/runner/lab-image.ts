// Everything a boot needs, prepared once per process and cached on disk between runs: the Debian
// kernel, the Node.js sysroot, the initramfs. The first run downloads ~70 MB and builds for a
// minute at most; a cached run checks versions and is ready in about a second.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError, runChecked } from './command';
import { prepareInitramfs } from './initramfs';
import { LabKernel, prepareKernel } from './kernel-package';
import { labCacheDir } from './lab-cache';
import { NodeSysroot, prepareNodeSysroot } from './node-sysroot';

export interface LabImage {
  cacheDir: string;
  kernel: LabKernel;
  sysroot: NodeSysroot;
  initramfs: string;
  /** The repository: its dist/, node_modules/ and package.json are what the guest runs. */
  projectDir: string;
  qemuVersion: string;
}

/** The repository root, from this file's place in dist/test/lab/runner/. */
export const PROJECT_DIR = path.resolve(__dirname, '../../../..');
export const GUEST_INIT = path.join(PROJECT_DIR, 'test/lab/guest/init.sh');

let prepared: Promise<LabImage> | undefined;

export function prepareLabImage(): Promise<LabImage> {
  prepared ??= build().catch((e: unknown) => {
    prepared = undefined;
    throw e;
  });
  return prepared;
}

async function build(): Promise<LabImage> {
  for (const needed of ['dist/test/lab/guest/agent.js', 'node_modules', 'package.json']) {
    if (!fs.existsSync(path.join(PROJECT_DIR, needed))) {
      throw new LabError(`${needed} is missing in ${PROJECT_DIR}: run npm ci and npx tsc -p tsconfig.json first`);
    }
  }
  const qemuVersion = (await runChecked('qemu-system-x86_64', ['--version'], { timeoutMs: 30_000 })).split('\n')[0];
  const cacheDir = labCacheDir();
  const kernel = await prepareKernel(cacheDir);
  const sysroot = await prepareNodeSysroot(cacheDir);
  const initramfs = await prepareInitramfs(cacheDir, { kernel, sysroot, initScript: GUEST_INIT });
  return { cacheDir, kernel, sysroot, initramfs, projectDir: PROJECT_DIR, qemuVersion };
}
