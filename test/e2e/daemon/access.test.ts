// Who may do what, enforced by a real dbus-daemon with our shipped policy file and checked with
// real second Unix users: anyone reads and introspects, only root and group gpuhookd change GPUs,
// and only root owns the name.

import assert from 'node:assert/strict';
import { BUS_NAME, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, gpuObjectPath } from '../../../src/dbus/contract';
import type { CommandResult } from '../../support/processes';
import { UNPRIVILEGED_USER, ensureTestUsers, runAsUser, type UnixUser } from '../../support/test-users';
import { DaemonUnderTest, printDaemonLogOnFailure, programForTestUsers } from './daemon-under-test';

const RTX = '0000:01:00.0';
const RTX_PATH = gpuObjectPath(RTX);
const LOG_CONTROL = '/org/freedesktop/LogControl1';
const LOG_CONTROL_IFACE = 'org.freedesktop.LogControl1';

describe('gpu-hookd access control (shipped D-Bus policy, real second users)', function () {
  this.timeout(30_000);
  let dut: DaemonUnderTest;
  let unprivileged: UnixUser;
  let member: UnixUser;

  before(async () => {
    ({ unprivileged, member } = await ensureTestUsers());
    dut = await DaemonUnderTest.start();
  });
  after(async () => {
    await dut?.dispose();
  });
  printDaemonLogOnFailure(() => dut);

  /** dbus-send as `user` to the daemon; string arguments. */
  function send(user: UnixUser, objectPath: string, method: string, ...args: string[]): Promise<CommandResult> {
    return runAsUser(user, 'dbus-send', [`--bus=${dut.bus.address}`, '--print-reply', `--dest=${BUS_NAME}`, objectPath, method, ...args]);
  }

  function hookctl(user: UnixUser, ...args: string[]): Promise<CommandResult> {
    return runAsUser(user, process.execPath, [programForTestUsers().hookctl, ...args, '--bus', dut.bus.address]);
  }

  const transitionsLogged = (): number => dut.logEvents().filter((e) => e.transition !== undefined).length;

  describe('an unprivileged user', () => {
    it('reads every property and introspects', async () => {
      const status = await send(unprivileged, MANAGER_PATH, 'org.freedesktop.DBus.Properties.Get', `string:${MANAGER_IFACE}`, 'string:Status');
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /string "idle: 1 GPU on host drivers"/);
      const all = await send(unprivileged, RTX_PATH, 'org.freedesktop.DBus.Properties.GetAll', `string:${GPU_IFACE}`);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /string "Mode"\s+variant\s+string "host"/);
      const introspection = await send(unprivileged, MANAGER_PATH, 'org.freedesktop.DBus.Introspectable.Introspect');
      assert.equal(introspection.code, 0, introspection.stderr);
      assert.match(introspection.stdout, /<interface name="org.gpuhookd1.Manager">/);
      const ping = await send(unprivileged, MANAGER_PATH, 'org.freedesktop.DBus.Peer.Ping');
      assert.equal(ping.code, 0, ping.stderr);
    });

    it('is refused every mutating method by the bus itself: the daemon never sees the call', async () => {
      const before = dut.snapshot();
      const seen = transitionsLogged();
      for (const [method, ...args] of [
        ['Detach', `string:${RTX}`],
        ['Attach', `string:${RTX}`],
        ['Prepare', 'string:win10', 'string:<domain/>'],
        ['Release', 'string:win10', 'string:'],
        ['Reload'],
      ]) {
        const result = await send(unprivileged, MANAGER_PATH, `${MANAGER_IFACE}.${method}`, ...args);
        assert.notEqual(result.code, 0, method);
        assert.match(result.stderr, /^Error org\.freedesktop\.DBus\.Error\.AccessDenied: /, method);
      }
      assert.deepEqual(dut.snapshot(), before);
      assert.equal(transitionsLogged(), seen);
    });

    it('cannot change the log level, nor own the name org.gpuhookd1', async () => {
      const set = await send(unprivileged, LOG_CONTROL, 'org.freedesktop.DBus.Properties.Set', `string:${LOG_CONTROL_IFACE}`, 'string:LogLevel', 'variant:string:debug');
      assert.match(set.stderr, /AccessDenied/);
      const own = await runAsUser(unprivileged, process.execPath, [
        '-e',
        `const dbus = require(${JSON.stringify(programForTestUsers().module('dbus-next'))});
         const bus = dbus.sessionBus({ busAddress: process.argv[1] });
         bus.requestName(${JSON.stringify(BUS_NAME)}, 0).then((r) => { console.log('granted ' + r); process.exit(0); }, (e) => { console.log(e.type); process.exit(1); });`,
        dut.bus.address,
      ]);
      assert.equal(own.stdout.trim(), 'org.freedesktop.DBus.Error.AccessDenied', own.stderr);
    });

    it('gpu-hookctl status works for them; detach says which group grants it, in one line', async () => {
      const status = await hookctl(unprivileged, 'status');
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^0000:01:00\.0 +NVIDIA .* +host +- +nouveau/m);
      const detach = await hookctl(unprivileged, 'detach', RTX);
      assert.equal(detach.code, 1);
      assert.equal(detach.stderr, 'gpu-hookctl detach: permission denied: changing GPUs needs root or membership of group gpuhookd (sudo usermod -aG gpuhookd $USER, then log in again)\n');
      assert.equal((await dut.properties(RTX_PATH, GPU_IFACE)).Mode, 'host');
    });
  });

  describe('a member of group gpuhookd', () => {
    it('may detach and attach, over the bus and with gpu-hookctl', async () => {
      const detach = await send(member, MANAGER_PATH, `${MANAGER_IFACE}.Detach`, `string:${RTX}`);
      assert.equal(detach.code, 0, detach.stderr);
      assert.equal((await dut.properties(RTX_PATH, GPU_IFACE)).Mode, 'vfio');
      const attach = await hookctl(member, 'attach', RTX);
      assert.equal(attach.code, 0, attach.stderr);
      assert.match(attach.stdout, /^0000:01:00\.0 is on its host drivers \(\d+ steps in .*\)$/m);
      assert.equal((await dut.properties(RTX_PATH, GPU_IFACE)).Mode, 'host');
    });

    it('may call the hook\'s methods too (the group is meant for people who run VMs)', async () => {
      const release = await send(member, MANAGER_PATH, `${MANAGER_IFACE}.Release`, 'string:nothing-held', 'string:');
      assert.equal(release.code, 0, release.stderr);
    });
  });
  describe('behind a bus policy that lets every Set through, the daemon\'s own check', () => {
    const OPEN_POLICY = 'open-properties-set.conf';
    before(async () => {
      await dut.bus.addPolicy(
        OPEN_POLICY,
        `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><policy user="${UNPRIVILEGED_USER}"><allow send_destination="${BUS_NAME}" send_interface="org.freedesktop.DBus.Properties" send_member="Set"/></policy></busconfig>`,
      );
    });
    after(async () => {
      await dut.bus.removePolicy(OPEN_POLICY);
    });

    const setLog = (user: UnixUser, property: string, value: string): Promise<CommandResult> =>
      send(user, LOG_CONTROL, 'org.freedesktop.DBus.Properties.Set', `string:${LOG_CONTROL_IFACE}`, `string:${property}`, `variant:string:${value}`);

    it('refuses an unprivileged user the log level and target with one sentence', async () => {
      for (const [property, value] of [['LogLevel', 'debug'], ['LogTarget', 'console']]) {
        const set = await setLog(unprivileged, property, value);
        assert.notEqual(set.code, 0, property);
        assert.equal(
          set.stderr,
          'Error org.gpuhookd1.Error.AccessDenied: changing the log level or target needs root or membership of group gpuhookd: run with sudo or add your user to gpuhookd (usermod -aG gpuhookd $USER, then log in again)\n',
          property,
        );
      }
      assert.deepEqual(await dut.properties(LOG_CONTROL, LOG_CONTROL_IFACE), { LogLevel: 'info', LogTarget: 'journal', SyslogIdentifier: 'gpu-hookd' });
      assert.deepEqual(dut.logEvents().filter((e) => e.event === 'log-level'), []);
    });

    it('lets a member of gpuhookd change the log level', async () => {
      const set = await setLog(member, 'LogLevel', 'debug');
      assert.equal(set.code, 0, set.stderr);
      assert.equal((await dut.properties(LOG_CONTROL, LOG_CONTROL_IFACE)).LogLevel, 'debug');
      assert.equal((await setLog(member, 'LogLevel', 'info')).code, 0);
      assert.equal((await dut.properties(LOG_CONTROL, LOG_CONTROL_IFACE)).LogLevel, 'info');
    });
  });
});
