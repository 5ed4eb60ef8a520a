// VMs that ask for CPU work only in config.json: the real daemon publishes <state>/hook-domains (at
// start, on a good config edit, on Reload and on SIGHUP), and the hook script, run as libvirtd runs it,
// forwards the domains listed there (or every domain for "*") although their XML names nothing of
// ours; last, the same through a real libvirtd. The CPU work is observed where it lands: the systemd
// stand-in's AllowedCPUs and the CPU record.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { cpuJournalFile } from '../../../src/cpu/cpu-journal';
import { GpuHost, startLibvirtWithHook } from './gpu-host';
import type { Libvirt } from '../../support/libvirt-harness';
import { buildTestDomainXml, safeDomainXml } from '../../support/safe-domain';
import { waitFor } from '../../support/processes';

/** Isolation with the host keeping CPUs 0 and 8 of the seed's 16: no pinning, so no QEMU is needed. */
const CPU_WORK = { isolateCpus: true, housekeepingCpus: '0,8' };
const HOUSEKEEPING_MASK = [0x01, 0x01];
const PHASES = [
  ['prepare', 'begin', 'Prepare'],
  ['started', 'begin', 'Started'],
  ['release', 'end', 'Release'],
] as const;

describe('VMs that ask for CPU work only in config.json reach the daemon', function () {
  this.timeout(60_000);
  let host: GpuHost;
  let recorder: { dir: string; log: string };

  before(async () => {
    host = await GpuHost.start({ config: { vms: { 'cpu-only': CPU_WORK } } });
    const dir = path.join(host.workDir, 'bin-hook-domains');
    fs.mkdirSync(dir);
    const log = path.join(host.workDir, 'hook-domains.calls');
    // A dbus-send first in PATH that records "Method domain" per call, then runs the real one.
    const script = [
      '#!/bin/bash',
      'method="" domain=""',
      'for a; do case $a in org.gpuhookd1.Manager.*) method=${a##*.} ;; string:*) [ -n "$domain" ] || domain=${a#string:} ;; esac; done',
      `echo "$method $domain" >> '${log}'`,
      'exec /usr/bin/dbus-send "$@"',
    ];
    fs.writeFileSync(path.join(dir, 'dbus-send'), `${script.join('\n')}\n`, { mode: 0o755 });
    recorder = { dir, log };
  });

  after(async () => {
    await host?.stop();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.log(`--- gpu-hookd log ---\n${host.daemonLog().slice(-6000)}`);
    if (!host.daemonRunning()) await host.startDaemon();
  });

  const listFile = (): string => path.join(host.daemon.stateDir, 'hook-domains');
  const listed = (): string | undefined => (fs.existsSync(listFile()) ? fs.readFileSync(listFile(), 'utf8') : undefined);
  const cpuRecord = (vm: string): boolean => fs.existsSync(cpuJournalFile(host.daemon.stateDir, vm, 'prepare'));
  const systemSlice = async (): Promise<number[]> => (await host.daemon.desktop!.systemd.unit('system.slice')).allowedCpus;

  /** Writes the config and waits until the daemon has published `expected`. */
  async function configure(config: unknown, expected: string): Promise<void> {
    host.daemon.writeConfig(config);
    await waitFor(`hook-domains to read ${JSON.stringify(expected)}`, () => listed() === expected);
  }

  /** Runs the hook with the recording dbus-send; returns its result and the bus calls it made ("Method domain"). */
  async function runHook(domain: string, op: string, subop: string, conf?: string): Promise<{ result: Awaited<ReturnType<GpuHost['runHook']>>; calls: string[] }> {
    fs.rmSync(recorder.log, { force: true });
    const saved = process.env.PATH;
    process.env.PATH = `${recorder.dir}:${saved ?? '/usr/bin:/bin'}`;
    try {
      const result = await host.runHook([domain, op, subop, '-'], buildTestDomainXml({ name: domain, vcpus: 2 }), conf);
      const calls = (fs.existsSync(recorder.log) ? fs.readFileSync(recorder.log, 'utf8') : '').split('\n').filter(Boolean);
      return { result, calls };
    } finally {
      process.env.PATH = saved;
    }
  }

  describe('the daemon publishes the list', () => {
    after(async () => {
      await configure({ vms: { 'cpu-only': CPU_WORK } }, 'cpu-only\n');
    });

    it('at start, before it owns its bus name', () => {
      assert.equal(listed(), 'cpu-only\n');
    });

    it('follows a good edit; "*" when the defaults ask it of every VM; empty when nothing is asked', async () => {
      await configure({ vms: { 'cpu-only': CPU_WORK, linux: { pin: 'auto' }, quiet: { holders: 'terminate' } } }, 'cpu-only\nlinux\n');
      await configure({ defaults: { governor: true } }, '*\n');
      await configure({}, '');
    });

    it('keeps the last list when an edit is refused', async () => {
      await configure({ vms: { linux: { governor: true } } }, 'linux\n');
      const refusals = (): number => host.daemon.logEvents().filter((e) => e.event === 'config-invalid').length;
      const before = refusals();
      host.daemon.writeConfig({ vms: { linux: { governor: 'yes please' } } });
      await waitFor('the edit refused', () => refusals() > before);
      assert.equal(listed(), 'linux\n');
      await configure({ vms: { linux: { governor: true }, win10: { pin: 'auto' } } }, 'linux\nwin10\n');
    });

    it('writes it again on Reload, before answering', async () => {
      fs.rmSync(listFile());
      await host.callManager('Reload');
      assert.equal(listed(), 'linux\nwin10\n');
    });

    it('writes it again on SIGHUP', async () => {
      fs.rmSync(listFile());
      host.daemon.signal('SIGHUP');
      await waitFor('hook-domains written after SIGHUP', () => listed() === 'linux\nwin10\n');
    });
  });

  describe('the hook', () => {
    it('forwards prepare, started and release of a listed domain without a GPU: its CPUs are isolated and given back', async () => {
      for (const [op, subop, method] of PHASES) {
        const { result, calls } = await runHook('cpu-only', op, subop);
        assert.deepEqual(result, { code: 0, stdout: '', stderr: '' }, `${op} ${subop}`);
        assert.deepEqual(calls, [`${method} cpu-only`]);
        if (op === 'prepare') {
          assert.deepEqual(await systemSlice(), HOUSEKEEPING_MASK);
          assert.equal(cpuRecord('cpu-only'), true, 'the CPU record is kept while the VM runs');
        }
      }
      assert.deepEqual(await systemSlice(), []);
      assert.equal(cpuRecord('cpu-only'), false);
    });

    it('makes no bus call for a domain that is not listed', async () => {
      for (const [op, subop] of PHASES) {
        const { result, calls } = await runHook('plain', op, subop);
        assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
        assert.deepEqual(calls, []);
      }
    });

    it('compares names literally: a section named "cpu-*" does not forward cpu-x', async () => {
      await configure({ vms: { 'cpu-*': CPU_WORK } }, 'cpu-*\n');
      try {
        assert.deepEqual((await runHook('cpu-x', 'prepare', 'begin')).calls, []);
      } finally {
        await configure({ vms: { 'cpu-only': CPU_WORK } }, 'cpu-only\n');
      }
    });

    it('forwards every domain when the list says "*"', async () => {
      await configure({ defaults: CPU_WORK }, '*\n');
      try {
        for (const domain of ['anyone', 'plain']) {
          for (const [op, subop, method] of PHASES) {
            const { result, calls } = await runHook(domain, op, subop);
            assert.deepEqual(result, { code: 0, stdout: '', stderr: '' }, `${domain} ${op}`);
            assert.deepEqual(calls, [`${method} ${domain}`]);
          }
        }
        assert.deepEqual(await systemSlice(), []);
      } finally {
        await configure({ vms: { 'cpu-only': CPU_WORK } }, 'cpu-only\n');
      }
    });

    it('without the file (another state directory), nothing is forwarded', async () => {
      const { result, calls } = await runHook('cpu-only', 'prepare', 'begin', host.hookConf({ GPU_HOOKD_STATE_DIR: path.join(host.workDir, 'no-such-dir') }));
      assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
      assert.deepEqual(calls, []);
    });

    it('still forwards the release of a VM whose section was edited away while it ran, so its CPUs come back', async () => {
      assert.equal((await runHook('cpu-only', 'prepare', 'begin')).result.code, 0);
      // Its section is gone: it stays listed while it holds CPU changes.
      await configure({ vms: { other: CPU_WORK } }, 'cpu-only\nother\n');
      const { result, calls } = await runHook('cpu-only', 'release', 'end');
      assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
      assert.deepEqual(calls, ['Release cpu-only']);
      assert.deepEqual(await systemSlice(), []);
      assert.equal(cpuRecord('cpu-only'), false);
      await configure({ vms: { 'cpu-only': CPU_WORK } }, 'cpu-only\n');
    });
  });

  describe('the daemon is not running', () => {
    beforeEach(async () => {
      await host.stopDaemon();
    });

    it('a listed domain starts (exit 0) with one warning on stderr', async () => {
      const { result } = await runHook('cpu-only', 'prepare', 'begin');
      assert.equal(result.code, 0);
      assert.equal(result.stdout, '');
      assert.equal(
        result.stderr,
        'gpu-hookd: warning: gpu-hookd is not running, so cpu-only runs without the CPU isolation or pinning asked for it: start gpu-hookd (systemctl start gpu-hookd) and restart cpu-only\n',
      );
    });

    it('the warning also reaches the system log, where it stays readable after a start libvirt reports as fine', async () => {
      // A stand-in for /dev/log: logger tries a datagram socket, then a stream one like this.
      const socketPath = path.join(host.workDir, 'syslog.sock');
      const received: Buffer[] = [];
      const server = net.createServer((c) => c.on('data', (d: Buffer) => received.push(d)));
      await new Promise<void>((resolve) => server.listen(socketPath, resolve));
      try {
        const { result } = await runHook('cpu-only', 'prepare', 'begin', host.hookConf({ GPU_HOOKD_SYSLOG: socketPath }));
        assert.equal(result.code, 0);
        await waitFor('the warning in the log', () => Buffer.concat(received).toString().includes('restart cpu-only'), { timeoutMs: 5_000 });
        const line = Buffer.concat(received).toString();
        // <28>: facility daemon (3) * 8 + severity warning (4); the tag names us.
        assert.match(line, /^<28>.*gpu-hookd: warning: gpu-hookd is not running, so cpu-only runs without the CPU isolation or pinning asked for it/);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it("a listed domain's release exits 0 and says what stays", async () => {
      const { result } = await runHook('cpu-only', 'release', 'end');
      assert.equal(result.code, 0);
      assert.match(result.stderr, /^gpu-hookd: warning: gpu-hookd is not running, so the CPU changes it made for cpu-only, if any, stay until it starts again and gives them back \(systemctl start gpu-hookd\)\n$/);
    });

    it('a domain that is not listed starts without a word or a bus call', async () => {
      assert.deepEqual(await runHook('plain', 'prepare', 'begin'), { result: { code: 0, stdout: '', stderr: '' }, calls: [] });
    });
  });

  describe('through a real libvirtd', function () {
    const name = 'gpuhookd-e2e-cpu-only';
    let lv: Libvirt;
    let stopLibvirt: (() => Promise<void>) | undefined;

    before(async function () {
      // Another run may hold the machine's one libvirt harness: wait for it.
      this.timeout(360_000);
      await configure({ vms: { [name]: CPU_WORK } }, `${name}\n`);
      ({ lv, stop: stopLibvirt } = await startLibvirtWithHook(host));
      await lv.defineDomain(safeDomainXml({ name, vcpus: 2 }));
    });

    after(async () => {
      await stopLibvirt?.();
    });

    afterEach(async () => {
      await lv.virsh(['destroy', name]);
    });

    it('virsh start isolates the CPUs of a domain whose CPU work is only in the config; destroy gives them back', async () => {
      const start = await lv.virsh(['start', name]);
      assert.equal(start.code, 0, start.stderr);
      assert.deepEqual(await systemSlice(), HOUSEKEEPING_MASK);
      assert.equal((await lv.virsh(['destroy', name])).code, 0);
      await waitFor('the CPU record gone after destroy', () => !cpuRecord(name));
      assert.deepEqual(await systemSlice(), []);
    });

    it('with the daemon stopped, the domain still starts', async () => {
      await host.stopDaemon();
      const start = await lv.virsh(['start', name]);
      assert.equal(start.code, 0, start.stderr);
      assert.equal((await lv.virsh(['domstate', name])).stdout.trim(), 'running');
    });
  });
});
