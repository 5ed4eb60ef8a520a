// The Debian package on this machine, for the packaging e2e test: built by the project's script,
// installed, upgraded, removed and purged with apt, and the machine's file list before and after.
// What the test installs is written down in /run/gpu-hookd-test/packaging.json first, so a run that
// was killed outright is purged by the next one; a gpu-hookd the test did not install is refused.
// While the package is installed the test holds the libvirt harness's lock: a libvirt e2e run in
// another process would otherwise put its own hook where the package's is (or be refused by it).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { HARNESS_STATE_DIR, HARNESS_STATE_FILE } from '../../support/libvirt-harness';
import { isRunning, runCommand, waitFor, type CommandResult } from '../../support/processes';

export const PACKAGE = 'gpu-hookd';
const REPO = path.resolve(__dirname, '../../../..');
const STATE_DIR = '/run/gpu-hookd-test';
const STATE_FILE = path.join(STATE_DIR, 'packaging.json');
const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

/** Trees whose file lists must be the same before the install and after the purge. */
const WATCHED = ['/etc', '/usr', '/lib', '/var/lib', '/opt'];
/** Changed by the package manager itself or by libvirt's own runs, not by our package. */
const UNWATCHED = [
  '/var/lib/dpkg',
  '/var/lib/apt',
  '/var/lib/libvirt',
  '/etc/libvirt/qemu',
  // groupadd's backups of the files it edits (the group gpuhookd stays on purge, on purpose)
  '/etc/group-',
  '/etc/gshadow-',
];

/** Builds the .deb with packaging/debian/build-deb.sh; returns its path. */
export async function buildDeb(outDir: string, revision: number): Promise<string> {
  const r = await runCommand('bash', [path.join(REPO, 'packaging/debian/build-deb.sh'), '--out', outDir, '--revision', String(revision)], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`build-deb.sh failed (${r.code}):\n${r.stderr}`);
  return r.stdout.trim();
}

export async function installedVersion(): Promise<string | undefined> {
  const r = await runCommand('dpkg-query', ['-W', '-f', '${db:Status-Abbrev} ${Version}', PACKAGE]);
  if (r.code !== 0) return undefined;
  const [status, version] = r.stdout.trim().split(/\s+/);
  return status === 'ii' ? version : `${status} ${version}`;
}

/** Takes the libvirt harness's lock (in the harness's own format, with nothing to undo), waiting
 *  for a libvirt e2e run in progress to finish. */
export async function holdLibvirtHarness(workDir: string): Promise<void> {
  fs.mkdirSync(HARNESS_STATE_DIR, { recursive: true, mode: 0o755 });
  const mine = JSON.stringify({ ownerPid: process.pid, workDir, hooks: [], createdHooksDir: false, qemuConfChanged: false, domains: [] });
  await waitFor(
    `the libvirt harness lock ${HARNESS_STATE_FILE}`,
    () => {
      try {
        fs.writeFileSync(HARNESS_STATE_FILE, mine, { flag: 'wx' });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = readJson<{ ownerPid: number }>(HARNESS_STATE_FILE)?.ownerPid;
      if (owner !== undefined && !isRunning(owner)) {
        throw new Error(`${HARNESS_STATE_FILE} was left by a killed libvirt e2e run (pid ${owner}): run the libvirt e2e tests once, which undo what it left`);
      }
      return false;
    },
    { timeoutMs: 300_000, intervalMs: 500 },
  );
}

export function releaseLibvirtHarness(): void {
  if (readJson<{ ownerPid: number }>(HARNESS_STATE_FILE)?.ownerPid === process.pid) fs.rmSync(HARNESS_STATE_FILE, { force: true });
}

/** Refuses a gpu-hookd this test did not install; purges one a killed run of this test left.
 *  Call with the libvirt harness held. */
export async function claimMachine(): Promise<void> {
  const version = await installedVersion();
  const state = readJson<{ ownerPid: number }>(STATE_FILE);
  if (version !== undefined) {
    if (!state || isRunning(state.ownerPid)) {
      throw new Error(`${PACKAGE} ${version} is installed on this machine, and not by this test: remove it (apt purge ${PACKAGE}) before running the packaging test`);
    }
    await apt('purge', PACKAGE);
  }
  const hook = '/etc/libvirt/hooks/qemu.d/gpu-hookd';
  if (fs.existsSync(hook) || isLink(hook)) {
    throw new Error(`${hook} exists and no ${PACKAGE} package owns it: the package would replace it; remove it first`);
  }
  fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o755 });
  fs.writeFileSync(STATE_FILE, JSON.stringify({ ownerPid: process.pid }));
}

export function releaseMachine(): void {
  fs.rmSync(STATE_FILE, { force: true });
}

export async function apt(action: 'install' | 'remove' | 'purge', what: string): Promise<CommandResult> {
  const args = ['-y', '-q', '-o', 'DPkg::Lock::Timeout=120', '--no-install-recommends', action, what];
  const r = await runCommand('apt-get', args, { env: APT_ENV, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`apt-get ${action} ${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Every path below the watched trees (symlinks not followed), sorted. */
export function fileList(): string[] {
  const out: string[] = [];
  const skip = new Set(UNWATCHED);
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (skip.has(p)) continue;
      out.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  for (const top of WATCHED) if (!isLink(top)) walk(top);
  return out.sort();
}

export function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
