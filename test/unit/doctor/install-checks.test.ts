import assert from 'node:assert/strict';
import { checkDaemon, checkHook, HOOK_PATH, type HookFacts, type LibvirtdProcess } from '../../../src/doctor/install-checks';
import { startTicks } from '../../../src/doctor/install-facts';

const ours = (changedAtMs: number, more: Partial<NonNullable<HookFacts['hook']>> = {}): HookFacts => ({
  hook: { path: HOOK_PATH, changedAtMs, executable: true, ours: true, target: '/usr/lib/gpu-hookd/hooks/qemu', ...more },
  otherHooks: [],
});
const libvirtd = (startedAtMs: number | null, name = 'libvirtd'): LibvirtdProcess => ({ pid: 700, name, startedAtMs });

describe('doctor: the hook and libvirtd', () => {
  it('passes when libvirtd started after the hook appeared', () => {
    assert.equal(checkHook(ours(1000), [libvirtd(2000)]).status, 'ok');
  });

  it('fails when libvirtd started before the hook, and says to restart the daemon that runs', () => {
    const c = checkHook(ours(2000), [libvirtd(1000)]);
    assert.equal(c.status, 'fail');
    assert.equal(c.fix, 'sudo systemctl restart libvirtd (once; running VMs keep running)');
    assert.match(checkHook(ours(2000), [libvirtd(1000, 'virtqemud')]).fix ?? '', /^sudo systemctl restart virtqemud /);
  });

  it('passes when libvirtd knew another qemu hook at its start (it then reads the directory at every call)', () => {
    const facts: HookFacts = { ...ours(2000), otherHooks: [{ path: '/etc/libvirt/hooks/qemu', changedAtMs: 500 }] };
    assert.equal(checkHook(facts, [libvirtd(1000)]).status, 'ok');
    const later: HookFacts = { ...ours(2000), otherHooks: [{ path: '/etc/libvirt/hooks/qemu', changedAtMs: 1500 }] };
    assert.equal(checkHook(later, [libvirtd(1000)]).status, 'fail');
  });

  it('warns when libvirtd is not running, or its start time cannot be read', () => {
    assert.equal(checkHook(ours(1000), []).status, 'warn');
    assert.equal(checkHook(ours(1000), [libvirtd(null)]).status, 'warn');
  });

  it('fails for a missing, foreign, dangling or non-executable hook', () => {
    assert.equal(checkHook({ hook: null, otherHooks: [] }, [libvirtd(1)]).status, 'fail');
    assert.match(checkHook(ours(1, { ours: false }), []).detail, /is not gpu-hookd's hook/);
    assert.match(checkHook(ours(1, { ours: false, executable: false }), []).detail, /points to \/usr\/lib\/gpu-hookd\/hooks\/qemu, which does not exist/);
    assert.equal(checkHook(ours(1, { executable: false }), []).fix, 'sudo chmod 0755 /usr/lib/gpu-hookd/hooks/qemu');
  });
});

describe('doctor: the daemon', () => {
  it('running passes with its status line; activatable warns; stopped and unreachable fail', () => {
    const running = checkDaemon({ state: 'running', bus: 'the system bus', version: '0.1.0', status: '1 GPU, all on the host' });
    assert.equal(running.status, 'ok');
    assert.equal(running.detail, 'gpu-hookd 0.1.0 is running on the system bus: 1 GPU, all on the host');
    assert.equal(checkDaemon({ state: 'activatable', bus: 'the system bus' }).status, 'warn');
    assert.match(checkDaemon({ state: 'stopped', bus: 'the system bus' }).fix ?? '', /systemctl enable --now gpu-hookd/);
    assert.equal(checkDaemon({ state: 'unreachable', bus: 'the system bus', error: 'ENOENT' }).status, 'fail');
  });
});

describe('doctor: /proc/PID/stat', () => {
  it('reads the start time after the last ")" of the command name', () => {
    const rest = ['S', '1', ...Array.from({ length: 17 }, () => '0'), '123456', '99'];
    assert.equal(startTicks(`42 (lib (virt) d) ${rest.join(' ')}`), 123456);
    assert.equal(startTicks(undefined), null);
    assert.equal(startTicks('42 (x) S'), null);
  });
});
