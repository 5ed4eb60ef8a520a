// The Node.js that runs the tests also runs the project inside the guest: its binary and the shared
// libraries it links, copied at their own paths into a small sysroot that the guest mounts over 9p.
// The guest's initramfs links those paths into place, so node starts there as it does here.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError, runChecked } from './command';
import { cachedArtifact, contentKey } from './lab-cache';

export interface NodeSysroot {
  dir: string;
  /** Absolute guest paths the sysroot provides ("/usr/bin/node", "/lib64/ld-linux-x86-64.so.2", ...). */
  files: string[];
}

/** Where node lives in the guest, whatever its path on this machine. */
export const GUEST_NODE = '/usr/bin/node';
const MANIFEST = 'files.json';

/** Absolute library paths from `ldd` output (both "x => /path (addr)" and "/path (addr)" lines). */
export function librariesFromLdd(lddOutput: string): string[] {
  const libs = new Set<string>();
  for (const line of lddOutput.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.add(m[1]);
  }
  return [...libs].sort();
}

export async function prepareNodeSysroot(cacheDir: string): Promise<NodeSysroot> {
  const nodeBinary = fs.realpathSync(process.execPath);
  const key = contentKey(process.version, nodeBinary, String(fs.statSync(nodeBinary).mtimeMs));
  const dir = await cachedArtifact(path.join(cacheDir, `node-sysroot-${process.version}-${key}`), async (scratch) => {
    const libs = librariesFromLdd(await runChecked('ldd', [nodeBinary], { timeoutMs: 30_000 }));
    if (!libs.some((l) => path.basename(l).startsWith('ld-linux'))) {
      throw new LabError(`ldd ${nodeBinary} names no dynamic loader: the lab needs a dynamically linked glibc Node.js`);
    }
    const files = [GUEST_NODE, ...libs];
    copyInto(scratch, nodeBinary, GUEST_NODE);
    for (const lib of libs) copyInto(scratch, lib, lib);
    fs.writeFileSync(path.join(scratch, MANIFEST), JSON.stringify(files));
  });
  return { dir, files: JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as string[] };
}

export function copyInto(sysroot: string, source: string, guestPath: string): void {
  const target = path.join(sysroot, guestPath);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  // copyFileSync follows symlinks: the guest gets the file itself (ld.so is a symlink on Debian).
  fs.copyFileSync(source, target);
  fs.chmodSync(target, 0o755);
}
