// The system lab (in npm test; alone: npm run lab:system): a real Debian booted under QEMU, systemd as
// PID 1, logind, lightdm logging gamer in on the emulated GPU, libvirt; gpu-hookd installed from the
// .deb this checkout builds with apt, on the release's own Node.js. The guest's story
// (test/lab/system/guest/story.sh) does what a user does; here each step's outcome is asserted.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { labCacheDir } from '../runner/lab-cache';
import { busExchanges, type BusRecording } from './bus-recording';
import { bootSystem, SYSTEM_BOOT_TIMEOUT_MS, type SystemBoot } from './system-boot';
import { prepareSystemImage, type Release } from './system-image';
import { SYSTEM_RELEASES } from './system-releases';

/** The image build: ~1 min with a warm apt cache, a few with a cold one on a busy machine. */
const IMAGE_TIMEOUT_MS = 15 * 60_000;
/** The recording the stand-ins are held to (test/e2e/infra/standins-recorded.test.ts). */
const FIXTURE = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../../test/lab/system/fixtures/bus-bookworm.json'), 'utf8')) as BusRecording;
/** Node.js's major version in each release's own archive. */
const NODE_MAJOR: Record<Release, string> = { bookworm: 'v18.', trixie: 'v20.' };
const GPU_DRIVERS = { gpu: 'bochs-drm', audio: 'snd_hda_intel' };

for (const release of SYSTEM_RELEASES) {
  describe(`system lab (Debian ${release}, systemd, logind, lightdm, libvirt): gpu-hookd from its .deb`, () => {
    let boot: SystemBoot | undefined;
    before(async function () {
      this.timeout(IMAGE_TIMEOUT_MS + SYSTEM_BOOT_TIMEOUT_MS);
      const image = await prepareSystemImage(labCacheDir(), release);
      boot = await bootSystem(image);
      const f = boot.facts;
      console.log(`    boot to power-off ${(boot.wallMs / 1000).toFixed(1)} s; apt install ${f['install.s']} s; enable --now to READY ${f['daemon.enableS']} s ` +
        `(start to READY=1 ${f['daemon.readyMs']} ms); virsh start ${f['vm.startS']} s; virsh destroy ${f['vm.destroyS']} s, Xorg on the GPU ${f['released.xorgMs']} s after; ` +
        `systemd-analyze security exposure ${f['daemon.exposure']}`);
      console.log(indent(`guest's systemctl status gpu-hookd (idle, after install):\n${boot.texts['status-idle'] ?? '(none)'}`));
      console.log(indent(`guest's systemctl status gpu-hookd (at the end):\n${boot.texts['status-end'] ?? '(none)'}`));
    });
    const facts = (): Record<string, string> => {
      assert.ok(boot, 'the system lab boot reported nothing');
      return boot.facts;
    };
    const text = (name: string): string => boot?.texts[name] ?? '';
    /** The host's GPU side under PREFIX, as the desktop has it: display manager up, Xorg on card0, gamer's session, fbcon. */
    const assertDesktop = (prefix: string, daemonInstalled = true): void => {
      const f = facts();
      assert.deepEqual(
        { dm: f[`${prefix}.dm`], xorg: /\bXorg\b/.test(f[`${prefix}.holders`] ?? ''), session: Boolean(f[`${prefix}.session`]), fbcon: f[`${prefix}.fbcon`], gpu: f[`${prefix}.driver.gpu`], audio: f[`${prefix}.driver.audio`], override: f[`${prefix}.override.gpu`] },
        { dm: 'active', xorg: true, session: true, fbcon: '1', gpu: GPU_DRIVERS.gpu, audio: GPU_DRIVERS.audio, override: '(null)' },
        `${prefix}: the desktop is not as it was at boot`,
      );
      if (daemonInstalled) assert.match(f[`${prefix}.status`] ?? '', /^idle/, `${prefix}: STATUS is not idle`);
    };
    /** The GPU given away under PREFIX: desktop stopped, session ended, fbcon released, the group on vfio-pci. */
    const assertGivenAway = (prefix: string): void => {
      const f = facts();
      assert.deepEqual(
        { dm: f[`${prefix}.dm`], holders: f[`${prefix}.holders`], session: f[`${prefix}.session`], fbcon: f[`${prefix}.fbcon`], gpu: f[`${prefix}.driver.gpu`], audio: f[`${prefix}.driver.audio`] },
        { dm: 'inactive', holders: '', session: '', fbcon: 'none', gpu: 'vfio-pci', audio: 'vfio-pci' },
        `${prefix}: the GPU was not given away whole`,
      );
    };

    it('boots to a desktop: systemd running, Xorg on the emulated GPU, gamer logged in by lightdm, fbcon bound', () => {
      const f = facts();
      assert.equal(f['guest.release'], release);
      assert.equal(f['guest.systemRunning'], 'running', `systemd says ${f['guest.systemRunning']}; failed units: ${f['guest.failedUnits']}`);
      assert.equal(f['boot.sessionService'], 'lightdm-autologin');
      assertDesktop('boot', false);
    });

    it(`installs with apt from the release's own archive and runs on its own nodejs (${NODE_MAJOR[release]}x)`, () => {
      const f = facts();
      assert.equal(f['install.rc'], '0', `apt-get install failed:\n${text('apt')}`);
      assert.ok(f['install.node']?.startsWith(NODE_MAJOR[release]), `node ${f['install.node']}`);
      assert.doesNotMatch(f['install.nodePackage'] ?? '', /nodesource/);
      assert.equal(f['cli.listRc'], '0', `gpu-hookctl list failed:\n${text('list')}`);
    });

    it('systemctl enable --now: active under the real systemd after READY=1, with its STATUS line', () => {
      const f = facts();
      assert.equal(f['daemon.enableRc'], '0', text('enable'));
      assert.deepEqual([f['daemon.active'], f['daemon.type']], ['active', 'notify']);
      assert.match(f['daemon.status'] ?? '', /^idle: 1 GPU on host drivers/);
      assert.match(text('status-idle'), /Active: active \(running\)/);
      assert.match(text('status-idle'), /Status: "idle/);
      assert.match(f['daemon.exposure'] ?? '', /^\d+(\.\d+)?$/, 'systemd-analyze security gave no exposure');
    });

    it("virsh start (hostdevs managed='no'): display manager stopped, session ended, fbcon released, the group on vfio-pci, the nested VM drives the GPU", () => {
      const f = facts();
      assert.equal(f['vm.defineRc'], '0', text('define'));
      assert.equal(f['vm.startRc'], '0', text('start'));
      assertGivenAway('running');
      assert.match(f['running.status'] ?? '', /syslab-vm/, 'STATUS does not name the VM holding the GPU');
      const workload = JSON.parse(f['running.workload'] || '{}') as { ok?: boolean; vga?: { vbeId?: string }; hda?: { dma?: boolean } };
      assert.deepEqual([workload.ok, workload.hda?.dma], [true, true], `the workload: ${f['running.workload']}`);
      assert.match(workload.vga?.vbeId ?? '', /^b0c/);
    });

    it('virsh destroy: the display manager holds the GPU again, the autologin session and fbcon are back, STATUS idle', () => {
      const f = facts();
      assert.equal(f['vm.destroyRc'], '0', text('destroy'));
      assertDesktop('released');
    });

    it("the same with managed='yes'", () => {
      const f = facts();
      assert.equal(f['managed.startRc'], '0', text('start-managed'));
      assertGivenAway('managed.running');
      assert.equal(f['managed.destroyRc'], '0', text('destroy-managed'));
      assertDesktop('managed.released');
    });

    for (const who of ['root', 'operator1']) {
      it(`gpu-hookctl detach and attach by hand with the desktop running, as ${who === 'root' ? 'root' : 'a member of the access group'}`, () => {
        const f = facts();
        assert.equal(f[`hand.${who}.detachRc`], '0', text(`detach-${who}`));
        assertGivenAway(`hand.${who}.detached`);
        assert.equal(f[`hand.${who}.attachRc`], '0', text(`attach-${who}`));
        assertDesktop(`hand.${who}.attached`);
      });
    }

    it('a user outside the access group is refused in one sentence, the desktop untouched', () => {
      const f = facts();
      assert.notEqual(f['hand.gamer.detachRc'], '0');
      assert.match(text('detach-gamer'), /gpuhookd/, `the refusal does not name the access group:\n${text('detach-gamer')}`);
      assertDesktop('hand.gamer');
    });

    it('a process outside the desktop holding the GPU: virsh start refused naming it, the desktop back', () => {
      const f = facts();
      assert.match(f['foreign.holders'] ?? '', /\bsleep\b/, 'the foreign holder never opened card0');
      assert.notEqual(f['foreign.startRc'], '0');
      assert.match(text('start-foreign'), /sleep \(PID \d+\) holds \/dev\/dri\/card0/, `the refusal does not name the holder:\n${text('start-foreign')}`);
      assertDesktop('foreign');
    });

    it('SIGKILL of gpu-hookd in the middle of a prepare: the start fails, systemd restarts it, recovery gives the desktop back, the next start works', function () {
      const f = facts();
      // The story runs this step only with SYSLAB_SIGKILL set (an open bug with fbcon, docs/lab.md).
      if (f['kill.startRc'] === undefined) this.skip();
      assert.ok(f['kill.killedAtDriver'] !== undefined, 'the prepare was never caught between the display manager\'s stop and vfio-pci');
      assert.notEqual(f['kill.startRc'], '0', text('start-killed'));
      assert.deepEqual([f['kill.active'], f['kill.newPid']], ['active', 'yes'], `systemd did not restart gpu-hookd (NRestarts ${f['kill.restarts']})`);
      assert.ok(Number(f['kill.restarts']) >= 1);
      assertDesktop('kill.recovered');
      assert.deepEqual([f['kill.nextStartRc'], f['kill.next.driver.gpu'], f['kill.nextDestroyRc']], ['0', 'vfio-pci', '0'], text('start-after-kill'));
      assertDesktop('kill.next.released');
    });

    it('D-Bus activation: with gpu-hookd stopped, virsh start has the bus start it through systemd, and gets the GPU when it is ready within the bus\'s 25 s', () => {
      const f = facts();
      assert.deepEqual([f['activation.before'], f['activation.after']], ['inactive', 'active'], 'the hook\'s call did not start gpu-hookd');
      assert.match(f['activation.readyMs'] ?? '', /^\d+$/, 'the activated start\'s time to READY=1 was not recorded');
      if (Number(f['activation.readyMs']) <= BUS_ACTIVATION_TIMEOUT_MS) {
        assert.deepEqual([f['activation.startRc'], f['activation.driver.gpu'], f['activation.destroyRc']], ['0', 'vfio-pci', '0'], text('start-activation'));
      } else {
        // TCG on a loaded machine: the bus stopped waiting while systemd went on starting gpu-hookd
        assert.match(text('start-activation'), /org\.freedesktop\.DBus\.Error\.TimedOut: Failed to activate service 'org\.gpuhookd1'/);
        console.log(`    gpu-hookd took ${f['activation.readyMs']} ms to READY=1, longer than the bus waits for an activation: the start failed as it would on such a host`);
      }
      assertDesktop('activation.released');
    });

    it('systemctl reload with a broken config keeps the running daemon and its last good config', () => {
      const f = facts();
      assert.equal(f['reload.active'], 'active');
      assert.equal(f['reload.mainPid'], f['reload.pidBefore'], 'the daemon was restarted, not reloaded');
      assert.match(f['reload.status'] ?? '', /^idle/);
      assert.ok(text('journal-warnings').split('\n').some((l) => RELOAD_REFUSED.test(l)), `no refused reload in the journal:\n${text('journal-warnings')}`);
    });

    it("made no kind of call to systemd or logind that the stand-ins' recorded fixture lacks", () => {
      const f = facts();
      assert.match(f['daemon.busName'] ?? '', /^:\d+\.\d+$/, 'gpu-hookd\'s bus name was not recorded');
      const live = busExchanges(boot?.busMonitor ?? '', f['daemon.busName']);
      assert.ok(live.length > 0, 'the bus monitor recorded no call of gpu-hookd');
      const kind = (ex: BusRecording['exchanges'][number]): string => `${ex.call.interface}.${ex.call.member}(${ex.call.signature}) ${String(ex.call.args[0] ?? '')} -> ${ex.answer.kind} ${ex.answer.signature ?? ex.answer.errorName}`;
      const known = new Set(FIXTURE.exchanges.map(kind));
      assert.deepEqual([...new Set(live.map(kind))].filter((k) => !known.has(k)), [], 'record a new fixture: node dist/test/lab/system/bus-recording.js (docs/lab.md)');
    });

    it('journalctl -u gpu-hookd -p warning holds exactly the lines the story provoked', () => {
      const lines = text('journal-warnings').split('\n').filter((l) => l && !l.startsWith('-- '));
      const counts = Object.fromEntries(Object.entries(EXPECTED_WARNINGS).map(([what, re]) => [what, lines.filter((l) => re.test(l)).length]));
      const other = lines.filter((l) => ![...Object.values(EXPECTED_WARNINGS), EDIT_IGNORED].some((re) => re.test(l)));
      const killRan = facts()['kill.startRc'] !== undefined;
      const once = (k: string): number => (!killRan && KILL_WARNINGS.includes(k) ? 0 : 1);
      assert.deepEqual({ ...counts, other }, { ...Object.fromEntries(Object.keys(EXPECTED_WARNINGS).map((k) => [k, once(k)])), other: [] }, `the warnings:\n${lines.join('\n')}`);
    });
  });
}

/** dbus-daemon's service_start_timeout: how long the bus waits for an activated service to take its name. */
const BUS_ACTIVATION_TIMEOUT_MS = 25_000;
const RELOAD_REFUSED = /^config reload ignored, keeping the last good config: \/etc\/gpu-hookd\/config\.json: not valid JSON/;
/** The warnings the story provokes, each once: the refused start, the SIGKILL (systemd's two lines) and the recovery, the broken reload. */
const EXPECTED_WARNINGS: Record<string, RegExp> = {
  foreignHolder: /^detach of 0000:01:00\.0 failed at 'check that no process holds 0000:01:00\.0': sleep \(PID \d+\) holds \/dev\/dri\/card0; the host was restored/,
  // The same failure as the transition event a machine selects (docs/metrics.md): its MESSAGE_ID and fields.
  foreignHolderEvent: /^detach of 0000:01:00\.0 for VM \S+ failed: detach of 0000:01:00\.0 failed at 'check that no process holds 0000:01:00\.0': .* MESSAGE_ID=b829beb3af0044f299709905ac744ee2 gpu=0000:01:00\.0 vm=\S+ operation=detach durationMs=/,
  killed: /^gpu-hookd\.service: Main process exited, code=killed, status=9\/KILL$/,
  killedResult: /^gpu-hookd\.service: Failed with result 'signal'\.$/,
  recoveryUndid: /^undid the interrupted detach of 0000:01:00\.0: the host is as before it /,
  recovered: /^a transition interrupted by a crash was undone event=recovered /,
  reloadRefused: RELOAD_REFUSED,
};
/** The warnings only the SIGKILL step provokes. */
const KILL_WARNINGS = ['killed', 'killedResult', 'recoveryUndid', 'recovered'];
/** The config watcher seeing the broken file: once or more (it may see the file while it is written). */
const EDIT_IGNORED = /^config edit ignored, keeping the last good config: \/etc\/gpu-hookd\/config\.json: not valid JSON/;

function indent(s: string): string {
  return s.trimEnd().split('\n').map((l) => `    ${l}`).join('\n');
}
