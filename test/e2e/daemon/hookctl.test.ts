// gpu-hookctl status / detach / attach as a person runs them (a separate process, argv, stdout,
// stderr, exit code) against the real daemon on the private bus: the table and JSON, live steps
// and a final line, and the one-line errors for a daemon that is not running, a GPU a VM holds,
// a bad address and a bus that is not there.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { injectFault } from '../../../src/sim/faults';
import { runCommand, spawnTracked, waitFor, type CommandResult } from '../../support/processes';
import { buildTestDomainXml } from '../../support/safe-domain';
import { DaemonUnderTest, HOOKCTL_ENTRY, useDaemonUnderTest } from './daemon-under-test';

const RTX = '0000:01:00.0';

interface StatusJson {
  version: string;
  status: string;
  gpus: { path: string; address: string; name: string; mode: string; owner: string; drivers: Record<string, string>; lastError: string }[];
}

describe('gpu-hookctl against the running daemon', function () {
  this.timeout(30_000);
  let dut: DaemonUnderTest;

  useDaemonUnderTest((started) => (dut = started));

  /** gpu-hookctl with the bus named by GPU_HOOKD_BUS, as a script or the demo would set it. */
  function hookctl(...args: string[]): Promise<CommandResult> {
    return runCommand(process.execPath, [HOOKCTL_ENTRY, ...args], { env: { PATH: process.env.PATH, GPU_HOOKD_BUS: dut.bus.address } });
  }

  it('status prints the daemon\'s line and one row per GPU', async () => {
    const r = await hookctl('status');
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    const lines = r.stdout.split('\n');
    assert.match(lines[0], /^gpu-hookd \d+\.\d+\.\d+: idle: 1 GPU on host drivers$/);
    assert.match(lines[2], /^ADDRESS +NAME +MODE +OWNER +DRIVERS +LAST ERROR$/);
    assert.match(lines[3], /^0000:01:00\.0 +NVIDIA Corporation TU106 \[GeForce RTX 2060 Rev\. A\] +host +- +nouveau, snd_hda_intel, xhci_hcd, nvidia-gpu +-$/);
  });

  it('status --json is one object scripts can read', async () => {
    const r = await hookctl('status', '--json');
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(r.stdout) as StatusJson;
    assert.equal(status.status, 'idle: 1 GPU on host drivers');
    assert.deepEqual(status.gpus.map((g) => [g.address, g.mode, g.owner, g.path]), [[RTX, 'host', '', '/org/gpuhookd1/gpu/0000_01_00_0']]);
  });

  it('detach prints every step with its time, then where the GPU is; attach gives it back', async () => {
    const detach = await hookctl('detach', '01:00.1');
    assert.equal(detach.stderr, '');
    assert.equal(detach.code, 0);
    const lines = detach.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `detach ${RTX} (NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]): to vfio-pci`);
    const steps = lines.slice(1, -1);
    assert.ok(steps.length > 0);
    for (const step of steps) assert.match(step, /^ +\d+(\.\d)? m?s {2}\S/, step);
    assert.ok(steps.some((s) => s.endsWith('unbind 0000:01:00.1 from snd_hda_intel')));
    assert.match(lines[lines.length - 1], new RegExp(`^${RTX.replace(/\./g, '\\.')} is on vfio-pci \\(${steps.length} steps in .+\\)$`));

    const status = JSON.parse((await hookctl('status', '--json')).stdout) as StatusJson;
    assert.equal(status.gpus[0].mode, 'vfio');

    const again = await hookctl('detach', RTX);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /is on vfio-pci \(nothing to do\)\n$/);

    const attach = await hookctl('attach', RTX);
    assert.equal(attach.code, 0, attach.stderr);
    assert.match(attach.stdout, /probe 0000:01:00\.0 for nouveau\n/);
    assert.match(attach.stdout, /is on its host drivers \(\d+ steps in .+\)\n$/);
  });

  it('the steps appear while the transition still runs, not at its end', async () => {
    // The third function's probe takes 1.5 s: the steps before it must be on stdout meanwhile.
    injectFault(dut.root, { path: 'sys/bus/pci/drivers_probe', value: '0000:01:00.2', effect: { kind: 'block', ms: 1500 }, times: 1 });
    const child = spawnTracked(process.execPath, [HOOKCTL_ENTRY, 'detach', RTX, '--bus', dut.bus.address], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await waitFor('the first steps on stdout', () => out.includes('probe 0000:01:00.1 for vfio-pci\n'));
    assert.equal(child.exitCode, null, 'gpu-hookctl is still waiting for the transition');
    assert.doesNotMatch(out, /is on vfio-pci/);
    assert.equal(await exited, 0);
    assert.match(out, /is on vfio-pci \(\d+ steps in .+\)\n$/);
    await dut.call('Attach', 's', [RTX]);
  });

  it('a GPU a VM holds: one line naming the VM, exit 1, nothing changed', async () => {
    await dut.call('Prepare', 'ss', ['win10', buildTestDomainXml({ name: 'win10', hostdevs: [{ address: RTX }] })]);
    try {
      const r = await hookctl('attach', RTX);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `gpu-hookctl attach: ${RTX} is held by VM win10: shut the VM down first (virsh shutdown win10)\n`);
      const status = (await hookctl('status')).stdout;
      assert.match(status, /^gpu-hookd .*: 0000:01:00\.0 on vfio-pci for win10$/m);
      assert.match(status, /vfio +win10 +4x vfio-pci/);
    } finally {
      await dut.call('Release', 'ss', ['win10', '']);
    }
  });

  it('a malformed address is a command-line error: the reason and the usage, exit 2', async () => {
    const r = await hookctl('detach', '1:0.0');
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.split('\n')[0], 'gpu-hookctl: detach: "1:0.0" is not a PCI address: write it as domain:bus:slot.function in hex, e.g. 0000:01:00.0 (see gpu-hookctl list)');
    assert.match(r.stderr, /^usage: gpu-hookctl detach ADDRESS \[--bus ADDRESS\]$/m);
    assert.equal((await hookctl('detach')).code, 2);
  });

  it('a device that is no GPU: the daemon\'s sentence, exit 1', async () => {
    const r = await hookctl('detach', '0000:00:1f.6');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^gpu-hookctl detach: 0000:00:1f\.6 .* is not a GPU and shares no IOMMU group with one: .*\n$/);
  });

  it('--bus names the bus too, and a bus that is not there is one line, exit 1', async () => {
    const flag = await runCommand(process.execPath, [HOOKCTL_ENTRY, 'status', '--bus', dut.bus.address], { env: { PATH: process.env.PATH } });
    assert.equal(flag.code, 0, flag.stderr);
    const missing = `unix:path=${path.join(dut.workDir, 'no-bus-here')}`;
    const r = await runCommand(process.execPath, [HOOKCTL_ENTRY, 'status', '--bus', missing]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^gpu-hookctl status: cannot connect to the D-Bus bus ${missing.replace(/[.]/g, '\\.')} \\(.*ENOENT.*\\): is dbus running, and is the address right\\?\\n$`));
  });

  it('the daemon not running: one line saying so and how to start it, exit 1', async () => {
    await dut.terminate();
    try {
      for (const args of [['status'], ['detach', RTX]]) {
        const r = await hookctl(...args);
        assert.equal(r.code, 1, args.join(' '));
        assert.equal(r.stderr, `gpu-hookctl ${args[0]}: gpu-hookd is not running: start it with \`systemctl start gpu-hookd\` (status: \`systemctl status gpu-hookd\`)\n`);
      }
    } finally {
      await dut.startDaemon();
    }
  });
});
