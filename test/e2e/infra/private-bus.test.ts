// The private system-like bus is a real dbus-daemon enforcing real policy on real Unix users.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { privateSystemBusConfig, startPrivateSystemBus, type PrivateBus } from '../../support/private-bus';
import { isRunning, readFileOrUndefined, runCommand, type CommandResult } from '../../support/processes';
import { startSystemdStandin, unitPath, type SystemdStandin } from '../../../src/sim/desktop/systemd-standin';
import { GPUHOOKD_GROUP, ensureTestUsers, lookupUser, runAsUser, type UnixUser } from '../../support/test-users';

function dbusSendArgs(bus: PrivateBus, dest: string, objectPath: string, method: string, ...args: string[]): string[] {
  return [`--bus=${bus.address}`, '--print-reply', `--dest=${dest}`, objectPath, method, ...args];
}

function asRoot(bus: PrivateBus, dest: string, objectPath: string, method: string, ...args: string[]): Promise<CommandResult> {
  return runCommand('dbus-send', dbusSendArgs(bus, dest, objectPath, method, ...args));
}

const MANAGER = '/org/freedesktop/systemd1';
const STOP_DM = ['org.freedesktop.systemd1.Manager.StopUnit', 'string:display-manager.service', 'string:replace'] as const;

describe('private system-like bus (real dbus-daemon)', function () {
  this.timeout(30_000);
  let bus: PrivateBus;
  let systemd: SystemdStandin;
  let unprivileged: UnixUser;
  let member: UnixUser;

  before(async () => {
    ({ unprivileged, member } = await ensureTestUsers());
    bus = await startPrivateSystemBus();
    systemd = await startSystemdStandin(bus, { units: [{ name: 'gdm.service', aliases: ['display-manager.service'], activeState: 'active' }] });
  });

  after(async () => {
    await systemd?.stop();
    await bus?.stop();
    assert.equal(isRunning(systemd.pid), false, 'stand-in process still running');
    assert.equal(isRunning(bus.pid), false, 'dbus-daemon still running');
  });

  it('listens on its own socket under the temp dir, not on the machine\'s system bus', async () => {
    assert.ok(bus.socketPath.startsWith(os.tmpdir() + path.sep), bus.socketPath);
    assert.notEqual(bus.socketPath, '/run/dbus/system_bus_socket');
    assert.ok(bus.address.startsWith(`unix:path=${bus.socketPath},`));
    const names = await asRoot(bus, 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.ListNames');
    assert.equal(names.code, 0, names.stderr);
    assert.match(names.stdout, /"org\.freedesktop\.systemd1"/);
  });

  it('derives its configuration from the system bus\'s, without fork, syslog, helper or the machine\'s directories', () => {
    const conf = fs.readFileSync(path.join(bus.configDir, 'system.conf'), 'utf8');
    assert.match(conf, /<type>system<\/type>/);
    assert.match(conf, /<deny send_type="method_call"\/>/);
    assert.deepEqual(conf.match(/<includedir>[^<]*<\/includedir>/g), [`<includedir>${bus.configDir}/system.d</includedir>`]);
    for (const gone of [/<fork\/>/, /<syslog\/>/, /<servicehelper>/, /<standard_system_servicedirs\/>/, /\/etc\/dbus-1/, /\/run\/dbus/]) {
      assert.doesNotMatch(conf, gone);
    }
    assert.throws(() => privateSystemBusConfig('<busconfig/>', { socketPath: 's', pidFile: 'p', policyDir: 'd' }), /has no <type>system<\/type> element/);
  });

  it('runs as the system bus does: dbus-daemon has dropped to user messagebus', async () => {
    const status = readFileOrUndefined(`/proc/${bus.pid}/status`) ?? '';
    const realUid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    assert.equal(realUid, (await lookupUser('messagebus')).uid);
  });

  it('denies a method call from an unprivileged user, and the service never sees it', async () => {
    systemd.clearCalls();
    const result = await runAsUser(unprivileged, 'dbus-send', dbusSendArgs(bus, 'org.freedesktop.systemd1', MANAGER, ...STOP_DM));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /org\.freedesktop\.DBus\.Error\.AccessDenied/);
    assert.deepEqual(await systemd.calls('StopUnit'), []);
  });

  it('lets an unprivileged user read properties', async () => {
    const result = await runAsUser(unprivileged, 'dbus-send', dbusSendArgs(bus, 'org.freedesktop.systemd1', unitPath('gdm.service'), 'org.freedesktop.DBus.Properties.Get', 'string:org.freedesktop.systemd1.Unit', 'string:ActiveState'));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /string "active"/);
  });

  it('lets root make the same method call', async () => {
    const result = await asRoot(bus, 'org.freedesktop.systemd1', MANAGER, ...STOP_DM);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /object path "\/org\/freedesktop\/systemd1\/job\/\d+"/);
  });

  it('applies a policy added at runtime: a member of gpuhookd may call, a non-member still may not', async () => {
    const getUnit = dbusSendArgs(bus, 'org.freedesktop.systemd1', MANAGER, 'org.freedesktop.systemd1.Manager.GetUnit', 'string:init.scope');
    assert.notEqual((await runAsUser(member, 'dbus-send', getUnit)).code, 0, 'allowed before the policy existed');
    await bus.addPolicy(
      'test-group-grant.conf',
      `<busconfig><policy group="${GPUHOOKD_GROUP}"><allow send_destination="org.freedesktop.systemd1" send_interface="org.freedesktop.systemd1.Manager" send_member="GetUnit"/></policy></busconfig>`,
    );
    const allowed = await runAsUser(member, 'dbus-send', getUnit);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /init_2escope/);
    const denied = await runAsUser(unprivileged, 'dbus-send', getUnit);
    assert.match(denied.stderr, /AccessDenied/);
  });

  it('refuses a malformed policy file, which dbus-daemon itself would skip without a word', async () => {
    await assert.rejects(bus.addPolicy('broken.conf', '<busconfig><policy'), /broken\.conf is not well-formed XML/);
    assert.equal(fs.existsSync(path.join(bus.configDir, 'system.d', 'broken.conf')), false);
  });
});

describe('private bus lifecycle', function () {
  this.timeout(30_000);

  it('stop() ends dbus-daemon by its PID and removes its directory', async () => {
    const bus = await startPrivateSystemBus();
    assert.equal(isRunning(bus.pid), true);
    await bus.stop();
    assert.equal(isRunning(bus.pid), false);
    assert.equal(fs.existsSync(bus.configDir), false);
  });

  it('activates a service from its own service directory (exec\'d by dbus-daemon itself)', async () => {
    const { root, cleanup } = makeServiceFiles();
    const bus = await startPrivateSystemBus({ serviceFiles: [path.join(root, 'org.gpuhookd1.HarnessProbe.service')], policyFiles: [path.join(root, 'probe.conf')] });
    try {
      const activatable = await asRoot(bus, 'org.gpuhookd1.HarnessProbe', '/', 'org.freedesktop.DBus.Peer.Ping');
      // The service's Exec is /bin/false: the daemon found the file and ran it.
      assert.match(activatable.stderr, /org\.freedesktop\.DBus\.Error\.Spawn\.ChildExited/);
      const unknown = await asRoot(bus, 'org.gpuhookd1.NoSuchService', '/', 'org.freedesktop.DBus.Peer.Ping');
      assert.match(unknown.stderr, /org\.freedesktop\.DBus\.Error\.ServiceUnknown/);
    } finally {
      await bus.stop();
      cleanup();
    }
    assert.equal(isRunning(bus.pid), false);
  });
});

function makeServiceFiles(): { root: string; cleanup: () => void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-svc-'));
  fs.writeFileSync(path.join(root, 'org.gpuhookd1.HarnessProbe.service'), '[D-BUS Service]\nName=org.gpuhookd1.HarnessProbe\nExec=/bin/false\nUser=root\n');
  fs.writeFileSync(
    path.join(root, 'probe.conf'),
    '<busconfig><policy user="root"><allow send_destination="org.gpuhookd1.HarnessProbe"/><allow send_destination="org.gpuhookd1.NoSuchService"/></policy></busconfig>',
  );
  return { root, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}
