// The running daemon follows edits of its config file: a good edit takes effect at once (log level,
// the group that may change GPUs), a bad one is logged with its key while the last good config
// stays in force. Reload over the bus does the same on demand.

import assert from 'node:assert/strict';
import * as dbus from 'dbus-next';
import { BUS_NAME, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, gpuObjectPath } from '../../../src/dbus/contract';
import { waitFor } from '../../support/processes';
import { ensureTestUsers, runAsUser, type UnixUser } from '../../support/test-users';
import { DaemonUnderTest, callError, printDaemonLogOnFailure, programForTestUsers, type LogEvent } from './daemon-under-test';

const RTX = '0000:01:00.0';
const LOG_CONTROL = '/org/freedesktop/LogControl1';

describe('gpu-hookd config, edited while it runs', function () {
  this.timeout(30_000);
  let dut: DaemonUnderTest;
  let member: UnixUser;

  before(async () => {
    ({ member } = await ensureTestUsers());
    dut = await DaemonUnderTest.start({ config: { log: { level: 'info' } } });
    await dut.waitForLog('that it follows config edits', (e) => e.event === 'config-watching');
  });
  after(async () => {
    await dut?.dispose();
  });
  printDaemonLogOnFailure(() => dut);

  async function logLevel(): Promise<string> {
    const reply = await dut
      .connection()
      .call(new dbus.Message({ destination: BUS_NAME, path: LOG_CONTROL, interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss', body: ['org.freedesktop.LogControl1', 'LogLevel'] }));
    return (reply?.body[0] as dbus.Variant).value as string;
  }

  /** Writes the config and waits for the daemon's verdict on this edit: the first such log event after it. */
  async function edit(config: unknown, verdict: 'config-reloaded' | 'config-invalid'): Promise<LogEvent> {
    const verdicts = (): LogEvent[] => dut.logEvents().filter((e) => e.event === verdict);
    const seen = verdicts().length;
    dut.writeConfig(config);
    return waitFor(`gpu-hookd logging ${verdict}`, () => verdicts()[seen]);
  }

  it('a good edit is applied at once: the log level changes', async () => {
    assert.equal(await logLevel(), 'info');
    await edit({ log: { level: 'debug' } }, 'config-reloaded');
    assert.equal(await logLevel(), 'debug');
  });

  it('a bad value is logged with its key and why, and the last good config stays', async () => {
    const bad = await edit({ log: { level: 'loud' } }, 'config-invalid');
    assert.equal(bad.key, 'log.level');
    assert.match(bad.msg, /keeping the last good config.*log\.level/);
    assert.equal(bad.level, 50, 'logged as an error');
    assert.equal(await logLevel(), 'debug');
  });

  it('a file that is no longer JSON is logged too, and changes nothing', async () => {
    const bad = await edit('{ "log": { "level": ', 'config-invalid');
    assert.match(bad.msg, /JSON/);
    assert.equal(await logLevel(), 'debug');
  });

  it('Reload over the bus with a bad file answers InvalidArgument naming the key, and keeps the config', async () => {
    dut.writeConfig({ access: { group: 'no such group!' } });
    const err = await callError(dut.call('Reload'));
    assert.equal(err.name, 'org.gpuhookd1.Error.InvalidArgument');
    assert.match(err.text, /access\.group/);
    assert.equal(await logLevel(), 'debug');
  });

  describe('access.group', () => {
    after(async () => {
      await edit({ log: { level: 'info' } }, 'config-reloaded');
    });

    it('naming another group takes the right to change GPUs from gpuhookd members at once, with a sentence naming the group', async () => {
      await edit({ log: { level: 'debug' }, access: { group: 'gpuhookd-test' } }, 'config-reloaded');
      // The bus policy still lets the member through; the daemon itself refuses.
      const send = await runAsUser(member, 'dbus-send', [`--bus=${dut.bus.address}`, '--print-reply', `--dest=${BUS_NAME}`, MANAGER_PATH, `${MANAGER_IFACE}.Detach`, `string:${RTX}`]);
      assert.match(send.stderr, /^Error org\.gpuhookd1\.Error\.AccessDenied: Detach needs root or membership of group gpuhookd-test/);
      const cli = await runAsUser(member, process.execPath, [programForTestUsers().hookctl, 'detach', RTX, '--bus', dut.bus.address]);
      assert.equal(cli.code, 1);
      assert.match(cli.stderr, /^gpu-hookctl detach: permission denied: Detach needs root or membership of group gpuhookd-test: .*usermod -aG gpuhookd-test/);
      assert.equal((await dut.properties(gpuObjectPath(RTX), GPU_IFACE)).Mode, 'host');
    });

    it('naming gpuhookd again gives it back', async () => {
      await edit({ log: { level: 'debug' }, access: { group: 'gpuhookd' } }, 'config-reloaded');
      const cli = await runAsUser(member, process.execPath, [programForTestUsers().hookctl, 'detach', RTX, '--bus', dut.bus.address]);
      assert.equal(cli.code, 0, cli.stderr);
      await dut.call('Attach', 's', [RTX]);
    });
  });
});
