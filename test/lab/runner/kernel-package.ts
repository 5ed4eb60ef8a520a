// The guest kernel is Debian's own: the package linux-image-amd64 currently depends on, fetched
// with apt-get download and unpacked (never installed) into the lab cache.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError, runChecked } from './command';
import { cachedArtifact } from './lab-cache';

export interface LabKernel {
  /** "6.1.0-56-amd64" */
  version: string;
  /** Unpacked package: boot/vmlinuz-<version>, lib/modules/<version> with a modules.dep. */
  root: string;
  vmlinuz: string;
}

const APT_TIMEOUT_MS = 10 * 60_000;
const TOOL_TIMEOUT_MS = 3 * 60_000;

/** "linux-image-6.1.0-56-amd64" from the output of `apt-cache depends linux-image-amd64`. */
export function kernelPackageFromDepends(dependsOutput: string): string | undefined {
  const m = /Depends:\s+(linux-image-\d[^\s]*)/.exec(dependsOutput);
  return m?.[1];
}

export async function resolveKernelPackage(): Promise<string> {
  const out = await runChecked('apt-cache', ['depends', 'linux-image-amd64'], { timeoutMs: TOOL_TIMEOUT_MS });
  const pkg = kernelPackageFromDepends(out);
  if (!pkg) {
    throw new LabError('apt knows no kernel package behind linux-image-amd64: run apt-get update and try again');
  }
  return pkg;
}

/** Downloads (once) and unpacks (once) the kernel package; depmod fills in the modules.dep it lacks. */
export async function prepareKernel(cacheDir: string): Promise<LabKernel> {
  const pkg = await resolveKernelPackage();
  const version = pkg.replace(/^linux-image-/, '');
  const root = await cachedArtifact(path.join(cacheDir, `kernel-${version}`), async (scratch) => {
    const deb = await downloadPackage(pkg, path.join(cacheDir, 'downloads'));
    await runChecked('dpkg-deb', ['-x', deb, scratch], { timeoutMs: TOOL_TIMEOUT_MS });
    if (!fs.existsSync(path.join(scratch, 'lib/modules', version))) {
      throw new LabError(`${path.basename(deb)} holds no lib/modules/${version}: delete it from the lab cache and run again`);
    }
    // The package ships no modules.dep; modprobe (here and in the guest) needs one.
    await runChecked('depmod', ['-b', scratch, version], { timeoutMs: TOOL_TIMEOUT_MS });
  });
  return { version, root, vmlinuz: path.join(root, 'boot', `vmlinuz-${version}`) };
}

async function downloadPackage(pkg: string, dir: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const existing = () => fs.readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!existing()) {
    // As root, apt drops to _apt for downloads, which cannot write into our cache directory.
    const sandbox = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
    await runChecked('apt-get', [...sandbox, 'download', pkg], { cwd: dir, timeoutMs: APT_TIMEOUT_MS });
  }
  const deb = existing();
  if (!deb) throw new LabError(`apt-get download ${pkg} left no .deb in ${dir}: check the apt sources and run again`);
  return path.join(dir, deb);
}
