// The Debian package on this machine, as a person would use it: build it with the project's script,
// install it with apt, use the installed files (the CLI on a simulated host, the daemon started
// from the installed unit's ExecStart on a private bus, the real-libvirtd e2e tests against the
// installed hook and daemon), upgrade it, remove it, purge it, and find the machine's file list as
// it was. Root only; whatever the test installed is purged in after(), also when a step failed.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as dbus from 'dbus-next';
import type { DoctorReport } from '../../../src/doctor/doctor-report';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { loadScenario } from '../../../src/sim/scenarios';
import { startPrivateSystemBus, type PrivateBus } from '../../support/private-bus';
import { runCommand, spawnTracked, type CommandResult } from '../../support/processes';
import { NotifyReceiver } from '../daemon/notify-receiver';
import { apt, buildDeb, claimMachine, fileList, holdLibvirtHarness, installedVersion, isLink, releaseLibvirtHarness, releaseMachine, PACKAGE } from './debian-package';

const REPO = path.resolve(__dirname, '../../../..');
const UNIT = '/lib/systemd/system/gpu-hookd.service';
const HOOK = '/etc/libvirt/hooks/qemu.d/gpu-hookd';
const have = (tool: string): boolean => process.env.PATH?.split(':').some((d) => fs.existsSync(path.join(d, tool))) ?? false;

function installedCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return runCommand('/usr/bin/gpu-hookctl', args, { env: { PATH: process.env.PATH, ...env } });
}

describe('the Debian package, installed on this machine', function () {
  this.timeout(300_000);
  let work: string;
  let filesBefore: string[];
  let claimed = false;
  let debs: { first: string; second: string };
  let sim: SimHost;

  before(async function () {
    if (process.getuid?.() !== 0 || !have('dpkg-deb') || !have('apt-get')) this.skip();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-deb-'));
    await holdLibvirtHarness(work);
    await claimMachine();
    claimed = true;
    filesBefore = fileList();
    debs = { first: await buildDeb(path.join(work, 'out'), 1), second: await buildDeb(path.join(work, 'out'), 2) };
    sim = await createSimHost(loadScenario('seed'), { dir: path.join(work, 'host') });
  });

  after(async () => {
    if (claimed) {
      if ((await installedVersion()) !== undefined) await apt('purge', PACKAGE);
      releaseMachine();
    }
    releaseLibvirtHarness();
    await sim?.dispose();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  describe('install', () => {
    it('lintian finds no error in it', async function () {
      if (!have('lintian')) this.skip();
      const r = await runCommand('lintian', ['--allow-root', '--fail-on', 'error', debs.first], { timeoutMs: 300_000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /^E: /m);
    });

    it('apt installs it, and it tells the user to restart libvirtd once', async () => {
      const r = await apt('install', debs.first);
      assert.match(r.stdout, /libvirtd looks for hooks only when it starts: restart it once/);
      assert.equal(await installedVersion(), '0.1.0-1');
      const group = await runCommand('getent', ['group', 'gpuhookd']);
      assert.equal(group.code, 0, 'the access group the bus policy names exists');
    });

    it('puts every file where docs/install.md says, and the hook is a link to the installed hook', async () => {
      for (const file of [
        '/usr/bin/gpu-hookd',
        '/usr/bin/gpu-hookctl',
        UNIT,
        '/usr/share/dbus-1/system.d/org.gpuhookd1.conf',
        '/usr/share/dbus-1/system-services/org.gpuhookd1.service',
        '/usr/lib/sysusers.d/gpu-hookd.conf',
        '/etc/gpu-hookd/config.json',
        '/usr/share/man/man8/gpu-hookd.8.gz',
        '/usr/share/man/man1/gpu-hookctl.1.gz',
        '/usr/share/bash-completion/completions/gpu-hookctl',
        '/usr/lib/systemd/catalog/gpu-hookd.catalog',
        '/usr/share/doc/gpu-hookd/examples/gpu-hookd.rules.yml',
        '/usr/share/doc/gpu-hookd/metrics.md',
        '/usr/lib/gpu-hookd/build/Release/sd_notify_send.node',
      ]) {
        assert.ok(fs.existsSync(file), `${file} is missing`);
      }
      assert.equal(fs.readlinkSync(HOOK), '/usr/lib/gpu-hookd/hooks/qemu');
      fs.accessSync(HOOK, fs.constants.X_OK);
      assert.equal(fs.readFileSync(HOOK, 'utf8'), fs.readFileSync(path.join(REPO, 'hooks/qemu'), 'utf8'));
      const conffiles = (await runCommand('dpkg-query', ['-W', '-f', '${Conffiles}', PACKAGE])).stdout;
      assert.match(conffiles, /^ \/etc\/gpu-hookd\/config\.json [0-9a-f]{32}$/m);
      const man = await runCommand('man', ['-w', 'gpu-hookctl']);
      assert.equal(man.stdout.trim(), '/usr/share/man/man1/gpu-hookctl.1.gz');
    });

    it('installs the product only: no simulator, demo, test or benchmark file', async () => {
      const files = (await runCommand('dpkg-query', ['-L', PACKAGE])).stdout.split('\n').filter((f) => f.startsWith('/usr/lib/gpu-hookd/dist/'));
      assert.ok(files.includes('/usr/lib/gpu-hookd/dist/src/daemon/main.js'), 'the daemon is installed');
      assert.deepEqual(files.filter((f) => /^\/usr\/lib\/gpu-hookd\/dist\/(src\/(sim|demo)|test|bench)(\/|$)/.test(f)), []);
      const outside = files.filter((f) => f !== '/usr/lib/gpu-hookd/dist/src' && !f.startsWith('/usr/lib/gpu-hookd/dist/src/'));
      assert.deepEqual(outside, [], 'nothing but dist/src is installed from dist/');
    });

    it('systemd-analyze verify accepts the installed unit as it is (binary and man pages in place)', async function () {
      if (!have('systemd-analyze')) this.skip();
      const r = await runCommand('systemd-analyze', ['verify', UNIT]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', '']);
    });

    it('the installed gpu-hookctl lists the GPUs of a simulated host', async () => {
      const r = await installedCli(['list', '--root', sim.root]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^GPU 0000:01:00\.0 {2}NVIDIA Corporation TU106/m);
    });
  });

  describe('the daemon from the installed unit, on a private bus over a simulated host', () => {
    let bus: PrivateBus;
    let notify: NotifyReceiver;

    before(async () => {
      bus = await startPrivateSystemBus({
        policyFiles: ['/usr/share/dbus-1/system.d/org.gpuhookd1.conf'],
        serviceFiles: ['/usr/share/dbus-1/system-services/org.gpuhookd1.service'],
      });
      notify = await NotifyReceiver.listen(path.join(work, 'notify.sock'));
    });
    after(async () => {
      notify?.close();
      await bus?.stop();
    });

    function doctor(): Promise<DoctorReport> {
      return installedCli(['doctor', '--root', sim.root, '--bus', bus.address, '--json']).then((r) => JSON.parse(r.stdout) as DoctorReport);
    }

    it('before it runs, doctor sees that the bus can start it, and does not start it', async () => {
      const daemon = (await doctor()).host.find((c) => c.id === 'daemon');
      assert.equal(daemon?.status, 'warn', JSON.stringify(daemon));
      assert.match(daemon?.detail ?? '', /starts it at the first VM start/);
      const conn = bus.connect();
      try {
        const owned = await conn.call(
          new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'NameHasOwner', signature: 's', body: ['org.gpuhookd1'] }),
        );
        assert.equal(owned?.body[0], false);
      } finally {
        conn.disconnect();
      }
    });

    it('starts from ExecStart, tells READY=1 from its own PID, serves the CLI, and stops on SIGTERM', async () => {
      const execStart = /^ExecStart=(.+)$/m.exec(fs.readFileSync(UNIT, 'utf8'))?.[1].trim().split(/\s+/) ?? [];
      assert.deepEqual(execStart, ['/usr/bin/gpu-hookd']);
      const config = path.join(work, 'config.json');
      fs.copyFileSync('/etc/gpu-hookd/config.json', config);
      const log = fs.openSync(path.join(work, 'daemon.log'), 'a');
      const [cmd, ...args] = execStart;
      const child = spawnTracked(cmd, [...args, '--root', sim.root, '--bus', bus.address, '--state-dir', path.join(work, 'state'), '--metrics-dir', work, '--config', config], {
        stdio: ['ignore', log, log],
        env: { PATH: process.env.PATH, NOTIFY_SOCKET: path.join(work, 'notify.sock') },
      });
      fs.closeSync(log);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        const ready = await notify.waitForLine('READY=1', (l) => l === 'READY=1', 30_000);
        assert.equal(ready.pid, child.pid, 'systemd (NotifyAccess=main) accepts READY only from the PID it started: the wrapper must exec');
        const status = await installedCli(['status', '--bus', bus.address, '--json']);
        assert.equal(status.code, 0, status.stderr);
        assert.deepEqual((JSON.parse(status.stdout) as { gpus: { address: string }[] }).gpus.map((g) => g.address), ['0000:01:00.0']);
        const daemon = (await doctor()).host.find((c) => c.id === 'daemon');
        assert.equal(daemon?.status, 'ok', JSON.stringify(daemon));
        assert.match(daemon?.detail ?? '', /^gpu-hookd 0\.1\.0 is running on the D-Bus bus /);
      } finally {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
      }
      assert.equal(await exited, 0, fs.readFileSync(path.join(work, 'daemon.log'), 'utf8'));
    });
  });

  describe('in use by libvirt', () => {
    // The libvirt e2e tests take the harness lock themselves.
    before(() => releaseLibvirtHarness());
    after(() => holdLibvirtHarness(work));

    it('the real-libvirtd e2e tests pass against the installed hook and daemon (GPU_HOOKD_INSTALLED=1)', async function () {
      const suite = path.join(REPO, 'dist/test/e2e/libvirt');
      if (!fs.existsSync(suite) || !fs.existsSync('/usr/sbin/libvirtd')) this.skip();
      this.timeout(900_000);
      const files = fs.readdirSync(suite).filter((f) => f.endsWith('.test.js')).map((f) => path.join(suite, f));
      const mocha = path.join(REPO, 'node_modules/mocha/bin/mocha.js');
      const r = await runCommand(process.execPath, [mocha, '--no-config', '--exit', '--timeout', '120000', '--reporter', 'dot', ...files], {
        env: { ...process.env, GPU_HOOKD_INSTALLED: '1' },
        timeoutMs: 850_000,
      });
      assert.equal(r.code, 0, `the libvirt e2e tests failed against the installed files:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /\d+ passing/);
      assert.ok(fs.existsSync(HOOK) && isLink(HOOK), 'the tests leave the installed hook in place');
    });
  });

  describe('upgrade, remove, purge', () => {
    it('an upgrade keeps an edited config and the state', async () => {
      fs.writeFileSync('/etc/gpu-hookd/config.json', '{ "log": { "level": "debug" } }\n');
      fs.mkdirSync('/var/lib/gpu-hookd', { recursive: true, mode: 0o700 });
      fs.writeFileSync('/var/lib/gpu-hookd/records.json', '{}\n');
      await apt('install', debs.second);
      assert.equal(await installedVersion(), '0.1.0-2');
      assert.equal(fs.readFileSync('/etc/gpu-hookd/config.json', 'utf8'), '{ "log": { "level": "debug" } }\n');
      assert.ok(fs.existsSync('/var/lib/gpu-hookd/records.json'));
      assert.equal(fs.readlinkSync(HOOK), '/usr/lib/gpu-hookd/hooks/qemu');
    });

    it('remove takes the program, the unit, the bus files and the hook, and keeps config and state', async () => {
      // What `systemctl enable` creates (it works without a running systemd): purge must take it too.
      const enable = await runCommand('systemctl', ['enable', 'gpu-hookd.service']);
      assert.equal(enable.code, 0, enable.stderr);
      await apt('remove', PACKAGE);
      assert.match((await installedVersion()) ?? '', /^rc /);
      for (const gone of ['/usr/lib/gpu-hookd', '/usr/bin/gpu-hookd', UNIT, '/usr/share/dbus-1/system.d/org.gpuhookd1.conf']) {
        assert.equal(fs.existsSync(gone), false, `${gone} is still there`);
      }
      assert.equal(isLink(HOOK), false, 'the hook goes with the package');
      assert.ok(fs.existsSync('/etc/gpu-hookd/config.json'));
      assert.ok(fs.existsSync('/var/lib/gpu-hookd/records.json'));
    });

    it('purge takes config, state and the enablement, and leaves the file list as it was before the install', async () => {
      await apt('purge', PACKAGE);
      assert.equal(await installedVersion(), undefined);
      const after = fileList();
      const then = new Set(filesBefore);
      const now = new Set(after);
      const added = after.filter((p) => !then.has(p));
      const removed = filesBefore.filter((p) => !now.has(p));
      assert.deepEqual({ added, removed }, { added: [], removed: [] });
    });
  });
});
