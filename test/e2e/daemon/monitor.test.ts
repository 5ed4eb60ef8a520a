// gpu-hookctl monitor as a person runs it (its own process, Ctrl-C to end it) against the real daemon
// on the private bus: the state first, then one line per change of a transition by hand, the daemon
// leaving and coming back, in JSON and as text.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { spawnTracked, waitFor } from '../../support/processes';
import { DaemonUnderTest, HOOKCTL_ENTRY, useDaemonUnderTest } from './daemon-under-test';

const RTX = '0000:01:00.0';

interface Monitor {
  child: ChildProcess;
  lines: () => string[];
  stderr: () => string;
}

function startMonitor(dut: DaemonUnderTest, ...args: string[]): Monitor {
  const child = spawnTracked(process.execPath, [HOOKCTL_ENTRY, 'monitor', '--bus', dut.bus.address, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { child, lines: () => out.split('\n').filter(Boolean), stderr: () => err };
}

/** SIGINT, as Ctrl-C; resolves with the exit code. */
async function interrupt(m: Monitor, signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
  const exited = once(m.child, 'exit');
  m.child.kill(signal);
  const [code] = (await exited) as [number | null];
  return code;
}

describe('gpu-hookctl monitor against the running daemon', function () {
  this.timeout(40_000);
  let dut: DaemonUnderTest;
  let monitor: Monitor | undefined;

  useDaemonUnderTest((started) => (dut = started));
  afterEach(async () => {
    if (monitor && monitor.child.exitCode === null) await interrupt(monitor);
    monitor = undefined;
  });

  it('--json: the state, then each change of a detach and an attach as one JSON object per line, until Ctrl-C', async () => {
    const m = (monitor = startMonitor(dut, '--json'));
    const events = (): Record<string, unknown>[] => m.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    await waitFor('the monitor\'s state lines', () => events().some((e) => e.event === 'gpu-state'));
    assert.deepEqual(events().map(({ time, ...e }) => (assert.match(String(time), /^\d{4}-\d\d-\d\dT/), e)), [
      { event: 'daemon-state', version: '0.1.0', status: 'idle: 1 GPU on host drivers' },
      { event: 'gpu-state', gpu: RTX, mode: 'host', owner: '', lastError: '' },
    ]);

    await dut.call('Detach', 's', [RTX]);
    await waitFor('the detach\'s end', () => events().some((e) => e.event === 'transition-finished'));
    await waitFor('Mode vfio', () => events().some((e) => e.event === 'gpu-changed' && (e.changed as Record<string, unknown>).Mode === 'vfio'));
    const detach = events().slice(2);
    const kinds = detach.map((e) => e.event);
    assert.deepEqual(detach.find((e) => e.event === 'transition-started'), { ...detach.find((e) => e.event === 'transition-started'), gpu: RTX, operation: 'detach', vm: '' });
    assert.ok(kinds.indexOf('transition-started') < kinds.indexOf('step-finished'), kinds.join(' '));
    assert.ok(kinds.lastIndexOf('step-finished') < kinds.indexOf('transition-finished'), kinds.join(' '));
    const steps = detach.filter((e) => e.event === 'step-finished');
    assert.ok(steps.some((e) => e.step === 'unbind 0000:01:00.1 from snd_hda_intel' && e.gpu === RTX && typeof e.durationMs === 'number'), JSON.stringify(steps));
    const finished = detach.find((e) => e.event === 'transition-finished');
    assert.deepEqual({ ...finished, time: undefined }, { time: undefined, event: 'transition-finished', gpu: RTX, operation: 'detach', ok: true, error: '' });
    const modes = detach.filter((e) => e.event === 'gpu-changed' && e.gpu === RTX).map((e) => (e.changed as Record<string, unknown>).Mode).filter(Boolean);
    assert.deepEqual(modes, ['detaching', 'vfio']);
    assert.ok(detach.some((e) => e.event === 'daemon-changed' && (e.changed as Record<string, unknown>).Status === `${RTX} on vfio-pci (detached by hand)`));

    const before = m.lines().length;
    await dut.call('Attach', 's', [RTX]);
    await waitFor('the attach\'s end', () => events().slice(before).some((e) => e.event === 'transition-finished'));
    await waitFor('Mode host', () => events().slice(before).some((e) => e.event === 'gpu-changed' && (e.changed as Record<string, unknown>).Mode === 'host'));

    assert.equal(await interrupt(m), 0);
    assert.equal(m.stderr(), '');
  });

  it('keeps following when the daemon leaves and comes back, and shows its state again', async () => {
    const m = (monitor = startMonitor(dut, '--json'));
    const events = (): string[] => m.lines().map((l) => (JSON.parse(l) as { event: string }).event);
    await waitFor('the monitor\'s state lines', () => events().includes('gpu-state'));
    await dut.terminate();
    await waitFor('the daemon leaving', () => events().includes('daemon-stopped'));
    await dut.startDaemon();
    await waitFor('the state again', () => events().filter((e) => e === 'gpu-state').length === 2);
    assert.deepEqual(events(), ['daemon-state', 'gpu-state', 'daemon-stopped', 'daemon-started', 'daemon-state', 'gpu-state']);
    assert.equal(await interrupt(m, 'SIGTERM'), 0);
  });

  it('prints one readable line per change, each with the time', async () => {
    const m = (monitor = startMonitor(dut));
    await waitFor('the monitor\'s state lines', () => m.lines().length >= 2);
    await dut.call('Detach', 's', [RTX]);
    await waitFor('the detach\'s end', () => m.lines().some((l) => l.endsWith(`${RTX}  detach done`)));
    await dut.call('Attach', 's', [RTX]);
    await waitFor('the attach\'s end', () => m.lines().some((l) => l.endsWith(`${RTX}  attach done`)));
    assert.equal(await interrupt(m), 0);
    const lines = m.lines();
    for (const line of lines) assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} {2}\S/, line);
    const text = lines.map((l) => l.slice(14));
    assert.deepEqual(text.slice(0, 2), ['gpu-hookd 0.1.0: idle: 1 GPU on host drivers', `${RTX}  Mode=host Owner="" LastError=""`]);
    assert.ok(text.includes(`${RTX}  detach by hand started`), text.join('\n'));
    assert.ok(text.includes(`${RTX}  Mode=detaching`), text.join('\n'));
    assert.ok(text.some((t) => /^0000:01:00\.0 {2}unbind 0000:01:00\.1 from snd_hda_intel \(\d+(\.\d)? ms\)$/.test(t)), text.join('\n'));
    // The properties of one PropertiesChanged on one line, in the order the daemon sent them.
    assert.ok(text.some((t) => t.startsWith(`${RTX}  `) && / Mode=vfio( |$)/.test(t) && t.includes('Drivers={"0000:01:00.0":"vfio-pci"')), text.join('\n'));
    assert.ok(text.includes('gpu-hookd  Status="idle: 1 GPU on host drivers"'), text.join('\n'));
    assert.equal(m.stderr(), '');
  });

  it('answers a wrong command line with its usage, and a bus that is not there with one line', async () => {
    const wrong = startMonitor(dut, '--jsn');
    const [code] = (await once(wrong.child, 'exit')) as [number];
    assert.equal(code, 2);
    assert.match(wrong.stderr(), /^gpu-hookctl: monitor: unknown option --jsn\nusage: gpu-hookctl monitor \[--bus ADDRESS\] \[--json\]/);
    const nowhere = spawnTracked(process.execPath, [HOOKCTL_ENTRY, 'monitor', '--bus', 'unix:path=/nonexistent/bus'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    nowhere.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    const [failed] = (await once(nowhere, 'exit')) as [number];
    assert.equal(failed, 1);
    assert.match(err, /^gpu-hookctl monitor: cannot connect to the D-Bus bus unix:path=\/nonexistent\/bus \(.+\): is dbus running, and is the address right\?\n$/);
  });
});
