// Where the doctor gets a VM's domain XML: a file (or standard input) the user names, else libvirt
// through a read-only virsh connection, which needs no root (libvirt's read-only socket is open
// to everyone by default).

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';

export const LIBVIRT_URI = 'qemu:///system';
const VIRSH_TIMEOUT_MS = 15_000;

/** The XML of `file` ("-": standard input). */
export function readDomainXmlFile(file: string, stdin: () => string): string {
  try {
    return file === '-' ? stdin() : fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new Error(`cannot read the domain XML from ${file === '-' ? 'standard input' : file} (${code}): name a readable file with --xml`);
  }
}

/** The persistent definition of domain `vm` (what its next start uses), from libvirt. */
export function dumpDomainXml(vm: string): Promise<string> {
  const args = ['--readonly', '--connect', LIBVIRT_URI, 'dumpxml', '--inactive', '--domain', vm];
  return new Promise((resolve, reject) => {
    execFile('virsh', args, { timeout: VIRSH_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'virsh is not installed' : stderr.trim().split('\n').pop() || err.message;
      reject(new Error(`libvirt could not give the definition of domain ${vm} (${why}): check the name with "virsh list --all", or pass the XML with --xml FILE`));
    });
  });
}
