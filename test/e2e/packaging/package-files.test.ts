// The packaging sources checked with the tools that consume them, before anything is built or
// installed: systemd-analyze on the unit, makepkg's own parser on the PKGBUILD, groff on the man
// pages, bash on the completion; and the man page and completion against gpu-hookctl's own verbs.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COMMANDS } from '../../../src/cli/commands';
import { DAEMON_USAGE } from '../../../src/daemon/config';
import { runCommand } from '../../support/processes';

const REPO = path.resolve(__dirname, '../../../..');
const UNIT = path.join(REPO, 'systemd/gpu-hookd.service');
const have = (tool: string): boolean => process.env.PATH?.split(':').some((d) => fs.existsSync(path.join(d, tool))) ?? false;

/** The `--flags` a usage text names. */
function flagsOf(usage: string): string[] {
  return [...new Set(usage.match(/--[a-z][a-z-]*/g) ?? [])].sort();
}

/** Key=value lines of an INI-style file (a unit, a D-Bus service file), repeated keys kept in order. */
function iniValues(text: string, key: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

describe('packaging sources', function () {
  this.timeout(60_000);
  let work: string;
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-packaging-'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  describe('systemd unit', () => {
    before(function () {
      if (!have('systemd-analyze')) this.skip();
    });

    /** The unit with ExecStart pointed at a stand-in executable: verify refuses a missing binary. */
    function unitCopy(name: string, edit: (text: string) => string = (t) => t): string {
      const dir = path.join(work, name);
      fs.mkdirSync(dir);
      const exe = path.join(dir, 'gpu-hookd');
      fs.writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
      const file = path.join(dir, 'gpu-hookd.service');
      fs.writeFileSync(file, edit(fs.readFileSync(UNIT, 'utf8').replace(/^ExecStart=\/usr\/bin\/gpu-hookd/m, `ExecStart=${exe}`)));
      return file;
    }

    it('systemd-analyze verify has nothing to say about it (and does speak up about a misspelt key)', async () => {
      const clean = await runCommand('systemd-analyze', ['verify', '--man=no', unitCopy('clean')]);
      assert.deepEqual([clean.code, clean.stdout, clean.stderr], [0, '', '']);
      const typo = await runCommand('systemd-analyze', ['verify', '--man=no', unitCopy('typo', (t) => t.replace('ProtectHome=', 'ProtectHomes='))]);
      assert.match(typo.stderr, /Unknown key 'ProtectHomes'/);
    });

    it('systemd-analyze security --offline: exposure at most 3.0, and docs/install.md records the same findings', async () => {
      const r = await runCommand('systemd-analyze', ['security', '--offline=yes', '--threshold=30', unitCopy('security')]);
      assert.equal(r.code, 0, r.stderr);
      const exposure = Number(/Overall exposure level for gpu-hookd\.service: ([\d.]+)/.exec(r.stdout)?.[1]);
      assert.ok(exposure <= 3.0, `exposure ${exposure}`);
      const findings = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('✗')).map((l) => l.split(/\s{2,}/)[0]).sort();
      const recorded = findings(fs.readFileSync(path.join(REPO, 'docs/install.md'), 'utf8'));
      assert.deepEqual(recorded, findings(r.stdout), 'docs/install.md shows the current systemd-analyze security findings');
    });

    it('the D-Bus activation file starts the unit, and without systemd the unit\'s own command', () => {
      const activation = fs.readFileSync(path.join(REPO, 'systemd/org.gpuhookd1.service'), 'utf8');
      const unit = fs.readFileSync(UNIT, 'utf8');
      assert.deepEqual(iniValues(activation, 'Name'), ['org.gpuhookd1']);
      assert.deepEqual(iniValues(activation, 'SystemdService'), ['gpu-hookd.service']);
      assert.deepEqual(iniValues(activation, 'Exec'), iniValues(unit, 'ExecStart'));
      assert.deepEqual(iniValues(activation, 'User'), ['root']);
      assert.deepEqual(iniValues(unit, 'BusName'), ['org.gpuhookd1']);
    });
  });

  describe('Arch PKGBUILD', () => {
    let srcinfo: string;
    before(async function () {
      if (!have('makepkg') || process.getuid?.() !== 0) this.skip();
      // makepkg refuses root and needs a directory it may write: a copy, parsed as user nobody.
      const dir = path.join(work, 'arch');
      fs.mkdirSync(dir, { mode: 0o755 });
      for (const f of fs.readdirSync(path.join(REPO, 'packaging/arch'))) fs.copyFileSync(path.join(REPO, 'packaging/arch', f), path.join(dir, f));
      fs.chmodSync(work, 0o755);
      fs.chownSync(dir, 65534, 65534);
      const r = await runCommand('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', 'sh', '-c', `cd '${dir}' && HOME=/tmp makepkg --printsrcinfo`]);
      assert.equal(r.stderr, '', 'makepkg parses the PKGBUILD without a word (a syntax error still exits 0)');
      assert.equal(r.code, 0);
      srcinfo = r.stdout;
    });

    const field = (key: string): string[] => srcinfo.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(`${key} = `)).map((l) => l.slice(key.length + 3));

    it('names this version, the Node.js it needs, and the config as a backup file', () => {
      const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string; license: string; engines: { node: string } };
      assert.deepEqual(field('pkgname'), ['gpu-hookd']);
      assert.deepEqual(field('pkgver'), [pkg.version]);
      assert.deepEqual(field('license'), [pkg.license]);
      assert.ok(field('depends').includes(`nodejs${pkg.engines.node}`), `depends ${field('depends').join(' ')} lacks nodejs${pkg.engines.node}`);
      assert.ok(field('depends').includes('dbus') && field('depends').includes('kmod'));
      assert.ok(field('makedepends').includes('go-md2man'));
      assert.deepEqual(field('backup'), ['etc/gpu-hookd/config.json']);
      assert.deepEqual(field('install'), ['gpu-hookd.install']);
    });

    it('its install script is valid shell', async () => {
      const r = await runCommand('bash', ['-n', path.join(REPO, 'packaging/arch/gpu-hookd.install')]);
      assert.deepEqual([r.code, r.stderr], [0, '']);
    });
  });

  describe('man pages', () => {
    before(function () {
      if (!have('go-md2man') || !have('groff')) this.skip();
    });

    async function render(page: string): Promise<string> {
      const out = path.join(work, page);
      const r = await runCommand('go-md2man', ['-in', path.join(REPO, 'docs/man', `${page}.md`), '-out', out]);
      assert.equal(r.code, 0, r.stderr);
      // -k -Tutf8: UTF-8 through preconv onto a terminal, as man(1) shows pages.
      const groff = await runCommand('groff', ['-k', '-Tutf8', '-man', '-ww', '-z', out]);
      assert.deepEqual([groff.code, groff.stderr], [0, ''], `groff warns about ${page}`);
      return fs.readFileSync(out, 'utf8');
    }

    it('gpu-hookctl(1) describes every verb and every option gpu-hookctl has', async () => {
      const man = await render('gpu-hookctl.1');
      assert.match(man, /^\.TH GPU-HOOKCTL 1 /m);
      for (const command of COMMANDS) {
        assert.match(man, new RegExp(`\\\\fBgpu-hookctl\\\\fP \\\\fB${command.name}\\\\fP`), `synopsis of ${command.name}`);
        for (const flag of flagsOf(command.usage)) assert.ok(man.includes(`\\fB${flag}\\fP`), `${command.name} ${flag} is not in gpu-hookctl.1`);
      }
    });

    it('gpu-hookd(8) describes every option of the daemon', async () => {
      const man = await render('gpu-hookd.8');
      assert.match(man, /^\.TH GPU-HOOKD 8 /m);
      for (const flag of flagsOf(DAEMON_USAGE)) assert.ok(man.includes(`\\fB${flag}\\fP`), `${flag} is not in gpu-hookd.8`);
    });
  });

  describe('bash completion', () => {
    const COMPLETION = path.join(REPO, 'packaging/completion/gpu-hookctl.bash');

    async function complete(...words: string[]): Promise<string[]> {
      const script = `source '${COMPLETION}'; COMP_WORDS=(gpu-hookctl ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _gpu_hookctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = await runCommand('bash', ['-c', script]);
      assert.equal(r.stderr, '');
      return r.stdout.split('\n').filter((w) => w !== '').sort();
    }

    it('completes exactly gpu-hookctl\'s verbs', async () => {
      assert.deepEqual(await complete(''), [...COMMANDS.map((c) => c.name), '--help'].sort());
    });

    it('completes exactly each verb\'s options', async () => {
      for (const command of COMMANDS) {
        assert.deepEqual(await complete(command.name, '--'), [...new Set([...flagsOf(command.usage), '--help'])].sort(), command.name);
      }
    });

    it('is valid bash that shellcheck finds clean', async function () {
      if (!have('shellcheck')) this.skip();
      const r = await runCommand('shellcheck', ['-s', 'bash', COMPLETION]);
      assert.deepEqual([r.code, r.stdout], [0, '']);
    });
  });

  it('the build scripts and maintainer scripts are shellcheck clean', async function () {
    if (!have('shellcheck')) this.skip();
    const scripts = ['packaging/install-tree.sh', 'packaging/debian/build-deb.sh', 'packaging/debian/postinst', 'packaging/debian/prerm', 'packaging/debian/postrm', 'packaging/bin/gpu-hookd', 'packaging/bin/gpu-hookctl'];
    const r = await runCommand('shellcheck', scripts.map((s) => path.join(REPO, s)));
    assert.deepEqual([r.code, r.stdout], [0, '']);
  });
});
