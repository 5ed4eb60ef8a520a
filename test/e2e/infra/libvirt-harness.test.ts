// The libvirt harness runs a real libvirtd with our hooks, and leaves the machine as it found it:
// after stop(), and after a test run that was killed outright.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { HARNESS_STATE_FILE, HOOKS_DIR, QEMU_CONF, recordingHook, startLibvirt, type Libvirt } from '../../support/libvirt-harness';
import { isRunning, readFileOrUndefined, runCommand, spawnTracked, waitFor } from '../../support/processes';
import { safeDomainXml } from '../../support/safe-domain';
import { makeTempRoot } from '../../support/temp-root';

/** The hook calls recorded for one domain, as "op subop extra". */
function hookCalls(logFile: string, domain: string): string[] {
  return (readFileOrUndefined(logFile) ?? '')
    .split('\n')
    .filter((line) => line.startsWith(`${domain} `))
    .map((line) => line.slice(domain.length + 1));
}

async function definedDomains(): Promise<string[]> {
  const result = await runCommand('virsh', ['list', '--all', '--name'], { env: { ...process.env, LIBVIRT_DEFAULT_URI: 'qemu:///system' } });
  return result.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

describe('libvirt harness recovers what a killed test run left behind', function () {
  this.timeout(120_000);

  it('a later start ends the dead run\'s daemons and QEMU by PID, removes its domain and hook, restores qemu.conf', async () => {
    const qemuConfBefore = fs.readFileSync(QEMU_CONF, 'utf8');
    const harness = path.resolve(__dirname, '../../support/libvirt-harness.js');
    const domains = path.resolve(__dirname, '../../support/safe-domain.js');
    const script = `
      const h = require(${JSON.stringify(harness)});
      const d = require(${JSON.stringify(domains)});
      (async () => {
        const lv = await h.startLibvirt({ hooks: [h.recordingHook('gpuhookd-stale-hook', '/dev/null')] });
        const name = await lv.defineDomain(d.safeDomainXml({ name: 'gpuhookd-stale' }));
        const started = await lv.virsh(['start', name]);
        if (started.code !== 0) throw new Error(started.stderr);
        console.log(JSON.stringify({ libvirtd: lv.libvirtdPid, virtlogd: lv.virtlogdPid, qemu: lv.domainPid(name) }));
        setInterval(() => undefined, 1000);
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const child = spawnTracked(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`the run to be killed exited early with code ${code}`)));
    });
    const dead = JSON.parse(line) as { libvirtd: number; virtlogd: number; qemu: number };
    process.kill(child.pid as number, 'SIGKILL');
    await waitFor('the killed run to be gone', () => !isRunning(child.pid as number));
    for (const pid of Object.values(dead)) assert.equal(isRunning(pid), true, 'the killed run should have left its processes');
    assert.ok(fs.existsSync(HARNESS_STATE_FILE));
    assert.ok(fs.existsSync(path.join(HOOKS_DIR, 'gpuhookd-stale-hook')));

    const lv = await startLibvirt();
    try {
      for (const pid of Object.values(dead)) assert.equal(isRunning(pid), false, `pid ${pid} of the killed run survived`);
      assert.equal(fs.existsSync(path.join(HOOKS_DIR, 'gpuhookd-stale-hook')), false);
      assert.equal((await definedDomains()).includes('gpuhookd-stale'), false);
    } finally {
      await lv.stop();
    }
    assert.equal(fs.readFileSync(QEMU_CONF, 'utf8'), qemuConfBefore);
  });
});

describe('libvirt harness (real libvirtd, qemu:///system)', function () {
  this.timeout(120_000);
  let lv: Libvirt;
  let tmp: { root: string; cleanup: () => void };
  let hookLog: string;
  let qemuConfBefore: string;
  const hookName = 'gpuhookd-infra-test';

  before(async () => {
    qemuConfBefore = fs.readFileSync(QEMU_CONF, 'utf8');
    tmp = makeTempRoot();
    hookLog = path.join(tmp.root, 'hook.log');
    lv = await startLibvirt({ hooks: [recordingHook(hookName, hookLog)] });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(lv.libvirtdLog().split('\n').slice(-40).join('\n'));
  });

  after(async () => {
    const pids = lv ? [lv.libvirtdPid, lv.virtlogdPid, ...['gpuhookd-infra-1', 'gpuhookd-infra-2'].map((d) => lv.domainPid(d) ?? 0)] : [];
    await lv?.stop();
    tmp?.cleanup();
    for (const pid of pids.filter(Boolean)) assert.equal(isRunning(pid), false, `pid ${pid} still running after stop()`);
    assert.equal(fs.existsSync(path.join(HOOKS_DIR, hookName)), false, 'hook file left behind');
    assert.equal(fs.readFileSync(QEMU_CONF, 'utf8'), qemuConfBefore, 'qemu.conf not restored');
    assert.equal(fs.existsSync(HARNESS_STATE_FILE), false, 'harness state file left behind');
    const left = await definedDomains();
    assert.equal(left.some((d) => d.startsWith('gpuhookd-infra-')), false, `domains left defined: ${left.join(', ')}`);
  });

  it('installed the hook before libvirtd started, and runs QEMU as root', () => {
    assert.equal(fs.statSync(path.join(HOOKS_DIR, hookName)).mode & 0o777, 0o755);
    assert.match(fs.readFileSync(QEMU_CONF, 'utf8'), /^user = "root"$/m);
    assert.equal(isRunning(lv.libvirtdPid), true);
    assert.match(lv.libvirtdLog(), new RegExp(`Found hook script ${HOOKS_DIR}/${hookName}`));
  });

  it('a domain without GPUs starts and is destroyed; the hook sees prepare, start, started, stopped, release in order', async () => {
    const name = await lv.defineDomain(safeDomainXml({ name: 'gpuhookd-infra-1' }));
    const started = await lv.virsh(['start', name]);
    assert.equal(started.code, 0, started.stderr);
    assert.equal((await lv.virsh(['domstate', name])).stdout.trim(), 'running');
    const qemu = lv.domainPid(name) as number;
    assert.equal(isRunning(qemu), true);
    assert.equal((await lv.virsh(['destroy', name])).code, 0);
    await waitFor('the release hook call', () => hookCalls(hookLog, name).includes('release end -'));
    assert.deepEqual(hookCalls(hookLog, name), ['prepare begin -', 'start begin -', 'started begin -', 'stopped end -', 'release end -']);
    assert.equal(isRunning(qemu), false);
  });

  it('restart() restarts libvirtd only: the running domain stays up and libvirt calls the reconnect hook', async () => {
    const name = await lv.defineDomain(safeDomainXml({ name: 'gpuhookd-infra-2' }));
    assert.equal((await lv.virsh(['start', name])).code, 0);
    const qemu = lv.domainPid(name);
    const oldLibvirtd = lv.libvirtdPid;
    await lv.restart();
    assert.notEqual(lv.libvirtdPid, oldLibvirtd);
    assert.equal(isRunning(oldLibvirtd), false);
    assert.equal(lv.domainPid(name), qemu);
    assert.equal((await lv.virsh(['domstate', name])).stdout.trim(), 'running');
    assert.ok(hookCalls(hookLog, name).includes('reconnect begin -'), hookCalls(hookLog, name).join('; '));
  });

  it('refuses a domain naming this machine\'s 0000:00:03.0 before libvirt sees it', async () => {
    const xml = safeDomainXml({ name: 'gpuhookd-infra-3' }).replace(
      '<memballoon',
      `<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x00' slot='0x03' function='0x0'/></source></hostdev>\n    <memballoon`,
    );
    await assert.rejects(lv.defineDomain(xml), /names PCI device 0000:00:03\.0/);
    assert.equal((await definedDomains()).includes('gpuhookd-infra-3'), false);
  });

  it('refuses virsh subcommands that would bypass that check', async () => {
    await assert.rejects(lv.virsh(['nodedev-detach', 'pci_0000_00_03_0']), /refused by the test harness/);
  });

  it('refuses to start a second harness in the same test process', async () => {
    await assert.rejects(startLibvirt(), /already running in this test process/);
  });
});
