// The hook script run directly, as libvirtd runs it (argv, XML on stdin, libvirt's bare
// environment), against the real daemon on a private bus over the simulated seed host: the fast
// path, the filters, failing closed and open, hostile XML, and one sentence on stderr.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_VFIO, GpuHost, HOOK_PATH, RTX, RTX_HOST_DRIVERS, gpuMetadata } from './gpu-host';
import { injectFault, clearFaults } from '../../../src/sim/faults';
import { buildTestDomainXml } from '../../support/safe-domain';
import { runCommand, waitFor } from '../../support/processes';

const PLAIN = buildTestDomainXml({ name: 'plain' });
const withGpuMetadata = (name: string): string => buildTestDomainXml({ name, metadata: gpuMetadata() });
// Only parsed here, never given to libvirt: these addresses exist only on the simulated host.
const withHostdev = (name: string, address: string): string => buildTestDomainXml({ name, hostdevs: [{ address }] });

/** One line on stderr, "gpu-hookd: ...", and nothing on stdout. */
function assertOneLineFailure(result: { code: number; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(result.code, 1, `exit status (stderr: ${result.stderr})`);
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
  assert.match(lines[0], /^gpu-hookd: /);
  assert.match(lines[0], pattern);
}

describe('the libvirt hook script, run as libvirtd runs it', function () {
  this.timeout(60_000);
  let host: GpuHost;
  /** A dbus-send earlier in PATH that records each call (without the XML) and then runs the real one. */
  let recorder: { dir: string; log: string };

  before(async () => {
    host = await GpuHost.start();
    const dir = path.join(host.workDir, 'bin');
    fs.mkdirSync(dir);
    const log = path.join(host.workDir, 'dbus-send.calls');
    fs.writeFileSync(path.join(dir, 'dbus-send'), `#!/bin/bash\necho "\${*:1:$#-1}" >> '${log}'\nexec /usr/bin/dbus-send "$@"\n`, { mode: 0o755 });
    recorder = { dir, log };
  });

  after(async () => {
    await host?.stop();
  });

  afterEach(async function () {
    clearFaults(host.root);
    if (this.currentTest?.state === 'failed') console.log(`--- gpu-hookd log ---\n${host.daemonLog().slice(-4000)}`);
    if (!host.daemonRunning()) await host.startDaemon();
  });

  /** Runs the hook with the recording dbus-send first in PATH; returns the result and the bus calls it made. */
  async function hookCalls(args: string[], xml: string, conf?: string): Promise<{ result: Awaited<ReturnType<GpuHost['runHook']>>; calls: string[] }> {
    fs.rmSync(recorder.log, { force: true });
    const confText = conf ?? host.hookConf();
    const result = await withPath(recorder.dir, () => host.runHook(args, xml, confText));
    const calls = (fs.existsSync(recorder.log) ? fs.readFileSync(recorder.log, 'utf8') : '').split('\n').filter(Boolean);
    return { result, calls };
  }

  it('is clean under shellcheck', async () => {
    const lint = await runCommand('shellcheck', [HOOK_PATH]);
    assert.equal(lint.code, 0, lint.stdout);
  });

  describe('a domain that asks for nothing', () => {
    for (const [op, subop] of [['prepare', 'begin'], ['started', 'begin'], ['release', 'end'], ['reconnect', 'begin']]) {
      it(`${op} ${subop}: exit 0 without a bus call, even with the daemon's bus unreachable`, async () => {
        const { result, calls } = await hookCalls(['plain', op, subop, '-'], PLAIN, 'GPU_HOOKD_BUS=unix:path=/nonexistent/bus\n');
        assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
        assert.deepEqual(calls, []);
      });
    }

    it('a non-GPU PCI hostdev is asked about and starts (the daemon says: nothing to do)', async () => {
      const { result, calls } = await hookCalls(['nvme-vm', 'prepare', 'begin', '-'], withHostdev('nvme-vm', '0000:02:00.0'));
      assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
      assert.equal(calls.length, 1);
      assert.match(calls[0], /org\.gpuhookd1\.Manager\.Prepare string:nvme-vm/);
    });
  });

  describe('ops that are not ours', () => {
    for (const [op, subop] of [['start', 'begin'], ['stopped', 'end'], ['attach', 'begin'], ['no-such-op', '-']]) {
      it(`${op} ${subop}: exit 0 at once, no bus call, for a GPU domain too`, async () => {
        const { result, calls } = await hookCalls(['gpu-vm', op, subop, '-'], withGpuMetadata('gpu-vm'));
        assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
        assert.deepEqual(calls, []);
      });
    }

    for (const op of ['migrate', 'restore']) {
      it(`${op}: prints nothing on stdout (it would replace the domain XML) and exits 0`, async () => {
        const { result, calls } = await hookCalls(['gpu-vm', op, 'begin', '-'], withGpuMetadata('gpu-vm'));
        assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
        assert.deepEqual(calls, []);
      });
    }
  });

  describe('a domain that asks for the RTX 2060', () => {
    it('prepare moves the group to vfio-pci, release gives it back; both print nothing', async () => {
      const xml = withHostdev('hd-vm', '0000:01:00.1');
      assert.deepEqual(await host.runHook(['hd-vm', 'prepare', 'begin', '-'], xml), { code: 0, stdout: '', stderr: '' });
      assert.deepEqual(host.drivers(), ALL_VFIO);
      assert.equal((await host.gpu()).owner, 'hd-vm');
      assert.deepEqual(await host.runHook(['hd-vm', 'release', 'end', '-'], xml), { code: 0, stdout: '', stderr: '' });
      assert.deepEqual(host.drivers(), RTX_HOST_DRIVERS);
      assert.deepEqual(await host.runHook(['hd-vm', 'release', 'end', 'destroyed'], xml), { code: 0, stdout: '', stderr: '' }, 'a second release is harmless');
    });

    it("a second domain's prepare fails with the daemon's one sentence naming the holder", async () => {
      assert.equal((await host.runHook(['first', 'prepare', 'begin', '-'], withGpuMetadata('first'))).code, 0);
      try {
        const second = await host.runHook(['second', 'prepare', 'begin', '-'], withGpuMetadata('second'));
        assertOneLineFailure(second, new RegExp(`^gpu-hookd: ${RTX} is held by VM first: stop that VM or remove the GPU from second$`));
      } finally {
        assert.equal((await host.runHook(['first', 'release', 'end', '-'], withGpuMetadata('first'))).code, 0);
      }
      assert.deepEqual(host.drivers(), RTX_HOST_DRIVERS);
    });

    it('a metadata setting the config would refuse fails prepare naming it; the host is unchanged', async () => {
      const before = host.snapshot();
      const result = await host.runHook(['badmeta', 'prepare', 'begin', '-'], buildTestDomainXml({ name: 'badmeta', metadata: gpuMetadata(RTX, "holders='kill'") }));
      assertOneLineFailure(result, /^gpu-hookd: domain badmeta <metadata>: holders must be one of "refuse", "terminate", got "kill"/);
      assert.deepEqual(host.snapshot(), before);
    });

    it('a daemon slower than the hook timeout: the hook fails naming the limit; release still restores', async () => {
      injectFault(host.root, { path: 'sys/bus/pci/drivers/xhci_hcd/unbind', effect: { kind: 'block', ms: 1500 }, times: 1 });
      const xml = withGpuMetadata('slow');
      const prepare = await host.runHook(['slow', 'prepare', 'begin', '-'], xml, host.hookConf({ GPU_HOOKD_HOOK_TIMEOUT_MS: '300' }));
      assertOneLineFailure(prepare, /^gpu-hookd: gpu-hookd did not answer Prepare for slow within 300 ms: see journalctl -u gpu-hookd, or raise GPU_HOOKD_HOOK_TIMEOUT_MS in /);
      // libvirt calls release after a failed prepare; it waits for the move in flight, then undoes it.
      assert.deepEqual(await host.runHook(['slow', 'release', 'end', '-'], xml), { code: 0, stdout: '', stderr: '' });
      assert.deepEqual(host.drivers(), RTX_HOST_DRIVERS);
      assert.equal((await host.gpu()).owner, '');
    });
  });

  describe('the daemon is not running', () => {
    beforeEach(async () => {
      await host.stopDaemon();
    });

    it('a domain whose metadata names a GPU fails closed with the sentence', async () => {
      const before = host.snapshot();
      const result = await host.runHook(['meta-vm', 'prepare', 'begin', '-'], withGpuMetadata('meta-vm'));
      assertOneLineFailure(result, /^gpu-hookd: gpu-hookd is not running: start it \(systemctl start gpu-hookd\) and start meta-vm again; it asks for a GPU$/);
      assert.deepEqual(host.snapshot(), before);
    });

    it("a hostdev on any function of a GPU's group fails closed (read-only sysfs check)", async () => {
      const result = await host.runHook(['audio-vm', 'prepare', 'begin', '-'], withHostdev('audio-vm', '0000:01:00.3'));
      assertOneLineFailure(result, /gpu-hookd is not running: .* it asks for a GPU$/);
    });

    it('a non-GPU hostdev starts (fail open)', async () => {
      assert.deepEqual(await host.runHook(['nvme-vm', 'prepare', 'begin', '-'], withHostdev('nvme-vm', '0000:02:00.0')), { code: 0, stdout: '', stderr: '' });
    });

    it('release says the GPU stays on vfio-pci until the daemon is back', async () => {
      const result = await host.runHook(['meta-vm', 'release', 'end', '-'], withGpuMetadata('meta-vm'));
      assertOneLineFailure(result, /^gpu-hookd: gpu-hookd is not running: the GPU of meta-vm stays on vfio-pci until gpu-hookd starts again and gives it back/);
    });

    it('reconnect never fails', async () => {
      assert.deepEqual(await host.runHook(['meta-vm', 'reconnect', 'begin', '-'], withGpuMetadata('meta-vm')), { code: 0, stdout: '', stderr: '' });
    });
  });

  describe('hook.conf', () => {
    it('is read, not run: a command in it does nothing, quotes are stripped, unknown keys ignored', async () => {
      const marker = path.join(host.workDir, 'conf-ran');
      const conf = `# comment\nUNKNOWN=1\nGPU_HOOKD_BUS="${host.daemon.bus.address}"\nGPU_HOOKD_SYSFS='${host.root}/sys'\ntouch ${marker}\nGPU_HOOKD_HOOK_TIMEOUT_MS=$(touch ${marker})\n`;
      const xml = withGpuMetadata('conf-vm');
      assert.deepEqual(await host.runHook(['conf-vm', 'prepare', 'begin', '-'], xml, conf), { code: 0, stdout: '', stderr: '' });
      assert.equal((await host.gpu()).owner, 'conf-vm', 'the quoted bus address was used');
      assert.deepEqual(await host.runHook(['conf-vm', 'release', 'end', '-'], xml, conf), { code: 0, stdout: '', stderr: '' });
      assert.equal(fs.existsSync(marker), false, 'nothing in hook.conf ran');
    });
  });

  describe('hostile XML on stdin', () => {
    const bomb =
      "<?xml version='1.0'?>\n<!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>]>\n" +
      "<domain type='qemu'><name>&c;</name><devices><hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev></devices></domain>";
    const hostdevLine = "<hostdev mode='subsystem' type='pci' managed='no'>";
    const cases: [string, string, string, RegExp][] = [
      ['malformed XML', 'bad', `<domain type='qemu'><name>bad</name><devices>${hostdevLine}<source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></devices></domain>`, /^gpu-hookd: the domain XML is not well-formed at line 1, column 177: fix it there, or take the XML libvirt keeps for the domain \(virsh dumpxml\)$/],
      // bash drops a NUL from a command substitution without a word: "n\0ul" would be read as nul's XML and move its GPU.
      ['a NUL byte in the name', 'nul', withHostdev('nul', RTX).replace('<name>nul</name>', '<name>n\0ul</name>'), /^gpu-hookd: the domain XML of nul holds a NUL byte or another control character that XML does not allow, so gpu-hookd cannot tell what it asks for: pass the XML libvirt keeps for the domain \(virsh dumpxml\)$/],
      ['a NUL byte in a hostdev address', 'nul2', withHostdev('nul2', RTX).replace("bus='0x01'", "bus='0x0\u00001'"), /^gpu-hookd: the domain XML of nul2 holds a NUL byte/],
      ['an entity bomb', 'bomb', bomb, /^gpu-hookd: the domain XML contains a DOCTYPE or entity declaration, which libvirt never writes: refusing it$/],
      ['a hostdev address that is not a PCI address', 'notpci', buildTestDomainXml({ name: 'notpci' }).replace('</devices>', `${hostdevLine}<source><address domain='0x0000' bus='../..' slot='0x00' function='0x0'/></source></hostdev></devices>`), /^gpu-hookd: a <hostdev type="pci"> of the domain names "0x0000:\.\.\/\.\.:0x00\.0x0", which is not a PCI address/],
      ['a huge XML for a GPU domain', 'huge', withHostdev('huge', RTX).replace('<devices>', `<description>${'x'.repeat(200_000)}</description>\n<devices>`), /^gpu-hookd: the domain XML of huge is larger than 127 KiB, more than the hook can hand to gpu-hookd: shorten its <description> or <metadata>$/],
    ];
    for (const [what, name, xml, pattern] of cases) {
      it(`${what}: a clear refusal, host unchanged, daemon still answering`, async () => {
        const before = host.snapshot();
        assertOneLineFailure(await host.runHook([name, 'prepare', 'begin', '-'], xml), pattern);
        assert.deepEqual(host.snapshot(), before);
        assert.equal((await host.gpu()).mode, 'host');
      });
    }

    it('a huge XML of a domain that asks for nothing starts', async () => {
      const huge = withHostdev('huge-nvme', '0000:02:00.0').replace('<devices>', `<description>${'x'.repeat(200_000)}</description>\n<devices>`);
      assert.deepEqual(await host.runHook(['huge-nvme', 'prepare', 'begin', '-'], huge), { code: 0, stdout: '', stderr: '' });
    });
  });

  describe('a domain name with a control character', () => {
    // printf %q's spelling of each name in the hook's sentence.
    const names: [string, string][] = [['tab\tvm', "$'tab\\tvm'"], ['nl\nvm', "$'nl\\nvm'"], ['esc\u001bvm', "$'esc\\Evm'"], ['del\u007fvm', "$'del\\177vm'"]];
    for (const [name, shown] of names) {
      it(`${JSON.stringify(name)}: the hook refuses it in one line without calling the daemon; reconnect and a VM asking nothing pass`, async () => {
        const before = host.snapshot();
        for (const op of [['prepare', 'begin'], ['started', 'begin'], ['release', 'end']]) {
          const { result, calls } = await hookCalls([name, ...op, '-'], withGpuMetadata('ctl-vm'));
          assertOneLineFailure(result, new RegExp(`^gpu-hookd: the domain name ${shown.replace(/[$\\]/g, '\\$&')} holds a control character, which gpu-hookd does not accept: rename the domain to a name without it \\(virsh domrename\\)$`));
          assert.deepEqual(calls, [], op[0]);
        }
        const reconnect = await hookCalls([name, 'reconnect', 'begin', '-'], withGpuMetadata('ctl-vm'));
        assert.deepEqual([reconnect.result, reconnect.calls], [{ code: 0, stdout: '', stderr: '' }, []], 'a failing reconnect hook would kill the running VM');
        const plain = await hookCalls([name, 'prepare', 'begin', '-'], PLAIN);
        assert.deepEqual([plain.result, plain.calls], [{ code: 0, stdout: '', stderr: '' }, []], 'a VM that asks nothing of gpu-hookd');
        assert.deepEqual(host.snapshot(), before);
      });
    }

    it('a NUL byte in the XML refuses even a VM that seems to ask nothing, but never fails a reconnect', async () => {
      const xml = PLAIN.replace('<name>plain</name>', '<name>pl\0ain</name>');
      assertOneLineFailure(await host.runHook(['plain', 'prepare', 'begin', '-'], xml), /^gpu-hookd: the domain XML of plain holds a NUL byte/);
      assert.deepEqual(await host.runHook(['plain', 'reconnect', 'begin', '-'], xml), { code: 0, stdout: '', stderr: '' });
    });

    it('the bus API refuses it too, escaped, in one sentence (InvalidArgument), host unchanged', async () => {
      const before = host.snapshot();
      for (const member of ['Prepare', 'Started', 'Release', 'Reconnect']) {
        const err = await host.callManager(member, 'tab\tvm', withGpuMetadata('ctl-vm')).then(
          () => assert.fail(`${member} accepted it`),
          (e: unknown) => e as { type: string; text: string },
        );
        assert.equal(err.type, 'org.gpuhookd1.Error.InvalidArgument', member);
        assert.equal(err.text, 'the domain name "tab\\tvm" holds a control character (U+0009), which gpu-hookd does not accept: rename the domain to a name without it (virsh domrename)', member);
      }
      assert.deepEqual(host.snapshot(), before);
    });
  });

  describe('hostile XML straight to the daemon over the bus', () => {
    const cases: [string, string, RegExp][] = [
      ['malformed XML', "<domain><name>vm</name><devices><hostdev type='pci'></devices></domain>", /^the domain XML is not well-formed at line 1, column 53: fix it there/],
      ['a control character XML does not allow', '<domain><name>vm</name><description>\u0007</description></domain>', /^the domain XML holds a control character \(U\+0007\) at line 1, column 37, which XML does not allow: /],
      ['an entity bomb', "<!DOCTYPE d [<!ENTITY a 'a'>]><domain><name>vm</name></domain>", /DOCTYPE or entity declaration/],
      ['more than 1 MiB', `<domain><name>vm</name><description>${'x'.repeat(1_100_000)}</description></domain>`, /larger than 1024 KiB: refusing it$/],
      ['a hostdev address that is not a PCI address', "<domain><name>vm</name><devices><hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0x100' slot='0' function='0'/></source></hostdev></devices></domain>", /which is not a PCI address/],
      ['nesting deeper than the parser allows', `<domain><name>vm</name>${'<a>'.repeat(60_000)}${'</a>'.repeat(60_000)}</domain>`, /^the domain XML could not be read/],
    ];
    for (const [what, xml, pattern] of cases) {
      it(`${what}: InvalidArgument with one sentence, no stack, host unchanged`, async () => {
        const before = host.snapshot();
        const err = await host.callManager('Prepare', 'vm', xml).then(
          () => assert.fail('Prepare accepted it'),
          (e: unknown) => e as { type: string; text: string },
        );
        assert.equal(err.type, 'org.gpuhookd1.Error.InvalidArgument');
        assert.match(err.text, pattern);
        assert.doesNotMatch(err.text, /\n|\bat .*\.js:\d+/);
        assert.deepEqual(host.snapshot(), before);
        await waitFor('the daemon answering after the hostile call', async () => (await host.gpu()).mode === 'host');
      });
    }
  });
});

/** Runs `work` with `dir` first in PATH (the hook gets PATH from runHook's environment). */
async function withPath<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = `${dir}:${saved ?? '/usr/bin:/bin'}`;
  try {
    return await work();
  } finally {
    process.env.PATH = saved;
  }
}
