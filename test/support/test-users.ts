// Real Unix identities for access-control tests: the D-Bus policy is enforced by dbus-daemon on the
// caller's uid and groups, so only a real second user proves it. Created once per machine when
// missing (groupadd/useradd), never removed: other tests and later runs use them too.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCommand, type CommandResult, type RunOptions } from './processes';

/** The group that may call gpu-hookd's mutating methods (the daemon's default). */
export const GPUHOOKD_GROUP = 'gpuhookd';
/** An unprivileged user outside every privileged group. */
export const UNPRIVILEGED_USER = 'gpuhookd-test';
/** An unprivileged user whose supplementary groups include `gpuhookd`. */
export const GROUP_MEMBER_USER = 'gpuhookd-member';

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
}

/** Makes sure the group and both test users exist; returns the users. */
export async function ensureTestUsers(): Promise<{ unprivileged: UnixUser; member: UnixUser }> {
  if ((await runCommand('getent', ['group', GPUHOOKD_GROUP])).code !== 0) {
    await mustRun('groupadd', ['--system', GPUHOOKD_GROUP]);
  }
  await ensureUser(UNPRIVILEGED_USER, []);
  await ensureUser(GROUP_MEMBER_USER, [GPUHOOKD_GROUP]);
  return { unprivileged: await lookupUser(UNPRIVILEGED_USER), member: await lookupUser(GROUP_MEMBER_USER) };
}

async function ensureUser(name: string, groups: string[]): Promise<void> {
  if ((await runCommand('id', ['-u', name])).code !== 0) {
    const groupArgs = groups.length ? ['--groups', groups.join(',')] : [];
    await mustRun('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', ...groupArgs, name]);
    return;
  }
  for (const group of groups) {
    const current = (await runCommand('id', ['-nG', name])).stdout.split(/\s+/);
    if (!current.includes(group)) await mustRun('usermod', ['--append', '--groups', group, name]);
  }
}

export async function lookupUser(name: string): Promise<UnixUser> {
  const uid = Number((await mustRun('id', ['-u', name])).stdout.trim());
  const gid = Number((await mustRun('id', ['-g', name])).stdout.trim());
  return { name, uid, gid };
}

/**
 * Runs a command as `user` with its own supplementary groups (setpriv, no PAM, no login shell).
 * The user must be able to read whatever the command needs: mkdtemp directories are 0700, and so is a
 * checkout in a home directory (Debian 12 makes homes 0700): run this checkout's files through
 * programForUsers().
 */
export function runAsUser(user: UnixUser, cmd: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  const env = { ...(options.env ?? process.env), HOME: '/nonexistent', USER: user.name, LOGNAME: user.name };
  return runCommand('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', cmd, ...args], { ...options, env });
}

export interface ProgramCopy {
  /** The copy's root: package.json, dist/src and the production node_modules of the checkout. */
  root: string;
  /** gpu-hookctl's entry point in the copy. */
  hookctl: string;
  /** The directory of a Node module in the copy, for require() by a second user's script. */
  module(name: string): string;
}

const copies = new Map<string, ProgramCopy>();

/**
 * What a second user runs of `checkout` (gpu-hookctl, our Node modules), copied world-readable into a
 * temporary directory of its own, removed when the test process exits: the user may not be able to
 * enter the checkout itself. One copy per checkout and process.
 */
export function programForUsers(checkout: string): ProgramCopy {
  const known = copies.get(checkout);
  if (known) return known;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-for-users-'));
  process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  fs.cpSync(path.join(checkout, 'package.json'), path.join(root, 'package.json'));
  fs.cpSync(path.join(checkout, 'dist/src'), path.join(root, 'dist/src'), { recursive: true });
  for (const dir of productionModules(checkout)) {
    fs.cpSync(dir, path.join(root, path.relative(checkout, dir)), { recursive: true, verbatimSymlinks: true });
  }
  makeReadable(root);
  const copy: ProgramCopy = { root, hookctl: path.join(root, 'dist/src/cli/main.js'), module: (name) => path.join(root, 'node_modules', name) };
  copies.set(checkout, copy);
  return copy;
}

/** The top-level node_modules directories the checkout's dependencies need, transitively (nested ones come along). */
function productionModules(checkout: string): string[] {
  const top = path.join(checkout, 'node_modules');
  const needed = new Set<string>();
  const visit = (pkgDir: string): void => {
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      const nested = path.join(pkgDir, 'node_modules', name);
      const dir = fs.existsSync(nested) ? nested : path.join(top, name);
      if (!fs.existsSync(dir) || needed.has(dir)) continue;
      needed.add(dir);
      visit(dir);
    }
  };
  visit(checkout);
  return [...needed].filter((dir) => path.dirname(dir) === top || path.dirname(path.dirname(dir)) === top);
}

/** Directories 0755, files 0644 (0755 when executable): readable by every user whatever the umask. */
function makeReadable(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const target = path.join(dir, entry.name);
    if (entry.isDirectory()) makeReadable(target);
    else if (entry.isFile()) fs.chmodSync(target, fs.statSync(target).mode & 0o111 ? 0o755 : 0o644);
  }
}

async function mustRun(cmd: string, args: string[]): Promise<CommandResult> {
  const result = await runCommand(cmd, args);
  if (result.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}; the e2e tests must run as root`);
  }
  return result;
}
