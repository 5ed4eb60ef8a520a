// Which libvirt domains run, asked read-only through libvirt's own client (`virsh -r list`), so the
// daemon can give back, at start, GPUs recorded for VMs that stopped while it was down. Never ask
// from inside a hook call: libvirt holds the domain's lock while its hook runs, and a listing waits
// for that lock (libvirt would deadlock with us), which is also why every question has a time limit.

import { execFile } from 'node:child_process';

export const DEFAULT_LIBVIRT_URI = 'qemu:///system';
export const DEFAULT_LIST_TIMEOUT_MS = 10_000;
/** One listing answers every question asked soon after it (the reconcile asks once per GPU). */
const LISTING_REUSE_MS = 2_000;

export interface RunningDomainsOptions {
  /** Default qemu:///system. */
  uri?: string;
  /** Default 10 s. */
  timeoutMs?: number;
  /** The virsh binary; default "virsh" from PATH. */
  virsh?: string;
}

export class LibvirtQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LibvirtQueryError';
  }
}

/** `virsh list --name` prints one name per line and a blank line at the end. */
export function parseDomainNames(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** Names of the active (running or paused) domains; throws LibvirtQueryError naming what went wrong. */
export function listRunningDomains(options: RunningDomainsOptions = {}): Promise<Set<string>> {
  const uri = options.uri ?? DEFAULT_LIBVIRT_URI;
  const timeoutMs = options.timeoutMs ?? DEFAULT_LIST_TIMEOUT_MS;
  const virsh = options.virsh ?? 'virsh';
  return new Promise((resolve, reject) => {
    execFile(
      virsh,
      ['-r', '-c', uri, 'list', '--name'],
      { timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) {
          resolve(new Set(parseDomainNames(stdout)));
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        if (e.code === 'ENOENT') {
          reject(new LibvirtQueryError(`cannot ask libvirt which VMs run: ${virsh} is not installed (install libvirt-clients)`));
        } else if (e.killed) {
          reject(new LibvirtQueryError(`libvirt (${uri}) did not list its running VMs within ${timeoutMs} ms: is libvirtd stuck? (systemctl status libvirtd)`));
        } else {
          const why = firstLine(stderr) || e.message;
          reject(new LibvirtQueryError(`cannot ask libvirt (${uri}) which VMs run: ${why}`));
        }
      },
    );
  });
}

/**
 * The daemon's isVmRunning: true / false from libvirt's listing, undefined when libvirt cannot be
 * asked (then the GPU's claim is kept: giving a running VM's GPU back would pull it from under it).
 */
export function runningDomainCheck(
  options: RunningDomainsOptions & { onError?: (e: LibvirtQueryError) => void } = {},
): (name: string) => Promise<boolean | undefined> {
  let listing: { at: number; names: Promise<Set<string> | undefined> } | undefined;
  return async (name) => {
    const now = Date.now();
    if (!listing || now - listing.at > LISTING_REUSE_MS) {
      const names = listRunningDomains(options).catch((e: unknown) => {
        options.onError?.(e as LibvirtQueryError);
        return undefined;
      });
      listing = { at: now, names };
    }
    const names = await listing.names;
    return names === undefined ? undefined : names.has(name);
  };
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.replace(/^error:\s*/, '').trim())
      .find((l) => l !== '' && !/^failed to connect to the hypervisor$/i.test(l)) ?? ''
  );
}
