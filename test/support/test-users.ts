// Real Unix identities for access-control tests: the D-Bus policy is enforced by dbus-daemon on the
// caller's uid and groups, so only a real second user proves it. Created once per machine when
// missing (groupadd/useradd), never removed: other tests and later runs use them too.

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
 * The user must be able to read whatever the command needs: mkdtemp directories are 0700.
 */
export function runAsUser(user: UnixUser, cmd: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  const env = { ...(options.env ?? process.env), HOME: '/nonexistent', USER: user.name, LOGNAME: user.name };
  return runCommand('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', cmd, ...args], { ...options, env });
}

async function mustRun(cmd: string, args: string[]): Promise<CommandResult> {
  const result = await runCommand(cmd, args);
  if (result.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}; the e2e tests must run as root`);
  }
  return result;
}
