// Every built-in scenario builds a tree laid out as the kernel lays out sysfs, procfs and devfs.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SysfsHostIO } from '../../../src/host/host-io';
import { openHostIO } from '../../../src/sim/open-host';
import { builtinScenarioNames, loadScenario } from '../../../src/sim/scenarios';
import { holdGroup } from '../../../src/sim/faults';
import { createSimHost, rebootSimHost } from '../../../src/sim/sim-host';
import { SimHostIO } from '../../../src/sim/sim-host-io';
import { snapshotHost } from '../../../src/sim/snapshot';
import seedFile from '../../../src/sim/scenarios/seed';
import { makeTempRoot } from '../../support/temp-root';

describe('simulated host trees', function () {
  this.timeout(60_000);

  for (const name of builtinScenarioNames()) {
    it(`${name}: every PCI device, group, driver and module link resolves as on a real kernel`, async () => {
      const scenario = loadScenario(name);
      const host = await createSimHost(scenario);
      try {
        const { io } = host;
        const real = (rel: string) => fs.realpathSync(io.abs(rel));
        for (const d of scenario.devices) {
          const base = `sys/bus/pci/devices/${d.address}`;
          assert.match(io.readLink(base) ?? '', /^\.\.\/\.\.\/\.\.\/devices\/pci[0-9a-f]{4}:[0-9a-f]{2}\//);
          assert.equal(path.basename(real(base)), d.address);
          if (d.parent) assert.equal(path.basename(path.dirname(real(base))), d.parent, 'nested under its bridge');
          assert.equal(io.readText(`${base}/vendor`), `0x${d.vendor}`);
          assert.equal(io.readText(`${base}/class`), `0x${d.class}`);
          const config = fs.readFileSync(io.abs(`${base}/config`));
          assert.ok(config.length >= 64);
          assert.equal(config.readUInt16LE(0), parseInt(d.vendor, 16));
          assert.equal(config.readUInt16LE(2), parseInt(d.device, 16));
          assert.equal(config[0x0e] & 0x7f, d.class.startsWith('0604') ? 1 : 0, `${d.address} header type`);
          assert.equal(io.exists(`${base}/boot_vga`), d.class.startsWith('0300'));
          if (d.bootVga) assert.equal(io.readText(`${base}/boot_vga`), '1');
          if (d.iommuGroup !== null) {
            assert.equal(io.readLink(`${base}/iommu_group`)?.replace(/^(\.\.\/)+/, ''), `kernel/iommu_groups/${d.iommuGroup}`);
            assert.equal(real(`sys/kernel/iommu_groups/${d.iommuGroup}/devices/${d.address}`), real(base));
          }
          if (d.driver) {
            assert.equal(io.readLinkName(`${base}/driver`), d.driver);
            assert.equal(real(`sys/bus/pci/drivers/${d.driver}/${d.address}`), real(base));
          } else {
            assert.equal(io.readLink(`${base}/driver`), undefined);
          }
        }
        for (const m of io.list('sys/module')) assert.ok(io.exists(`sys/module/${m}/refcnt`), `${m} refcnt`);
        const procModules = (io.readText('proc/modules') ?? '').split('\n').map((l) => l.split(' ')[0]);
        assert.deepEqual([...procModules].sort(), io.list('sys/module'));
        const s = snapshotHost(io);
        assert.equal(JSON.stringify(JSON.parse(JSON.stringify(s))), JSON.stringify(s), 'the snapshot is plain JSON');
        assert.ok(s.vtconsoles.length >= 1);
        assert.equal(io.readText('proc/cmdline'), scenario.kernel.cmdline);
        assert.match(io.readText('proc/cpuinfo') ?? '', scenario.cpu.vendor === 'intel' ? /\bvmx\b/ : /\bsvm\b/);
        assert.ok(io.exists('sys/devices/system/cpu/cpu0/topology/thread_siblings_list'));
        for (const c of scenario.cpu.offline) assert.equal(io.readText(`sys/devices/system/cpu/cpu${c}/online`), '0');
        assert.equal(io.exists('dev/vfio/vfio'), scenario.modules.some((m) => m.name === 'vfio' && m.loaded));
      } finally {
        await host.dispose();
      }
      assert.ok(!fs.existsSync(host.root), 'dispose removes the tree');
    });
  }

  it('the shared-group host puts the NIC in the GPU\'s group', async () => {
    const host = await createSimHost(loadScenario('shared-group'));
    try {
      assert.deepEqual(host.io.list('sys/kernel/iommu_groups/1/devices'), ['0000:00:01.0', '0000:00:01.1', '0000:01:00.0', '0000:01:00.1', '0000:02:00.0']);
      assert.equal(host.io.readLinkName('sys/bus/pci/devices/0000:02:00.0/driver'), 'igb');
    } finally {
      await host.dispose();
    }
  });

  it('server-8gpu has eight GPUs, each with its audio function in a group of its own', async () => {
    const host = await createSimHost(loadScenario('server-8gpu'));
    try {
      const gpus = host.io.list('sys/bus/pci/devices').filter((a) => host.io.readText(`sys/bus/pci/devices/${a}/device`) === '0x2204');
      assert.equal(gpus.length, 8);
      const groups = gpus.map((g) => host.io.readLinkName(`sys/bus/pci/devices/${g}/iommu_group`));
      assert.equal(new Set(groups).size, 8);
      for (const [i, g] of gpus.entries()) {
        assert.deepEqual(host.io.list(`sys/kernel/iommu_groups/${groups[i]}/devices`).filter((a) => a !== g && !a.endsWith(':01.1') && !a.endsWith(':01.2')), [`${g.slice(0, -1)}1`]);
      }
    } finally {
      await host.dispose();
    }
  });

  describe('scenario files on disk', () => {
    it('loads a JSON scenario by path, and names a file that is not JSON in one sentence', async () => {
      const { root, cleanup } = makeTempRoot();
      try {
        const good = path.join(root, 'mine.json');
        fs.writeFileSync(good, JSON.stringify({ ...seedFile, name: 'mine' }));
        assert.equal(loadScenario(good).name, 'mine');
        const bad = path.join(root, 'broken.json');
        fs.writeFileSync(bad, '{ "name": "broken", ');
        assert.throws(() => loadScenario(bad), /^ScenarioError: scenario broken\.json: the file is not valid JSON \(/);
        assert.throws(() => loadScenario(path.join(root, 'absent.json')), /^Error: cannot read scenario file .*absent\.json/);
      } finally {
        cleanup();
      }
    });
  });

  describe('creating and opening', () => {
    it('refuses "/" and a directory that is not empty', async () => {
      await assert.rejects(createSimHost(loadScenario('seed'), { dir: '/' }), /refusing to build a simulated host in \//);
      const { root, cleanup } = makeTempRoot();
      try {
        fs.writeFileSync(path.join(root, 'x'), '');
        await assert.rejects(createSimHost(loadScenario('seed'), { dir: root }), /is not empty/);
      } finally {
        cleanup();
      }
    });

    it('builds in a given directory, and dispose leaves that directory empty', async () => {
      const { root, cleanup } = makeTempRoot();
      try {
        const host = await createSimHost(loadScenario('seed'), { dir: root });
        assert.equal(host.root, root);
        await host.dispose();
        assert.deepEqual(fs.readdirSync(root), []);
      } finally {
        cleanup();
      }
    });

    it('openHostIO re-attaches to a simulated tree, sharing its kernel; any other root is a real kernel', async () => {
      const host = await createSimHost(loadScenario('seed'), { zeroDelays: true });
      try {
        const second = openHostIO(host.root);
        assert.ok(second instanceof SimHostIO);
        await second.write('sys/bus/pci/devices/0000:01:00.1/driver/unbind', '0000:01:00.1');
        assert.equal(host.io.readLink('sys/bus/pci/devices/0000:01:00.1/driver'), undefined);
        (second as SimHostIO).dispose();
      } finally {
        await host.dispose();
      }
      const { root, cleanup } = makeTempRoot();
      try {
        const plain = openHostIO(root);
        assert.ok(plain instanceof SysfsHostIO && !(plain instanceof SimHostIO));
      } finally {
        cleanup();
      }
    });

    it('a reboot gives a new boot_id and the boot state again, keeping files outside sys, proc, dev and run', async () => {
      const host = await createSimHost(loadScenario('seed'), { zeroDelays: true });
      try {
        const { io, root } = host;
        const boot = snapshotHost(io);
        const bootId = io.readText('proc/sys/kernel/random/boot_id');
        assert.match(bootId ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        for (const f of ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3']) {
          await io.write(`sys/bus/pci/devices/${f}/driver_override`, 'vfio-pci');
          await io.write(`sys/bus/pci/devices/${f}/driver/unbind`, f);
          await io.write('sys/bus/pci/drivers_probe', f);
        }
        holdGroup(root, 13);
        const waiting = io.write('sys/bus/pci/drivers/vfio-pci/unbind', '0000:01:00.1');
        await io.unloadModule('nouveau');
        fs.mkdirSync(path.join(root, 'var/lib/gpu-hookd'), { recursive: true });
        fs.writeFileSync(path.join(root, 'var/lib/gpu-hookd/journal'), 'from the earlier boot');
        fs.mkdirSync(path.join(root, 'run/gpu-hookd'), { recursive: true });

        rebootSimHost(root);
        await waiting;
        assert.notEqual(io.readText('proc/sys/kernel/random/boot_id'), bootId);
        assert.deepEqual(snapshotHost(io), boot, 'drivers, overrides, consoles and modules as at boot');
        assert.equal(io.exists('proc/4242'), false, 'the VM is gone');
        assert.equal(io.readText('var/lib/gpu-hookd/journal'), 'from the earlier boot');
        assert.equal(io.exists('run/gpu-hookd'), false, '/run is a tmpfs');
        await io.write('sys/bus/pci/devices/0000:01:00.1/driver/unbind', '0000:01:00.1');
        assert.equal(io.readLink('sys/bus/pci/devices/0000:01:00.1/driver'), undefined, 'the emulator works on after the reboot');
        assert.throws(() => rebootSimHost(path.join(root, 'var')), /^Error: refusing to reboot .*: it is not a simulated host/);
      } finally {
        await host.dispose();
      }
    });

    it('the CLI builds a tree and prints its snapshot', async () => {
      const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-cli-')), 'host');
      const cli = path.join(__dirname, '../../../src/sim/main.js');
      const run = (args: string[]) =>
        new Promise<{ code: number; out: string; err: string }>((resolve) =>
          execFile(process.execPath, [cli, ...args], (e, out, err) => resolve({ code: e ? Number(e.code) : 0, out, err })),
        );
      try {
        const created = await run(['create', 'two-gpu', dir, '--zero-delays']);
        assert.equal(created.code, 0, created.err);
        assert.match(created.out, /simulated host "two-gpu" built in /);
        const snap = await run(['snapshot', dir]);
        assert.equal(JSON.parse(snap.out).pciDevices['0000:01:00.0'].driver, 'nvidia');
        const bootId = fs.readFileSync(path.join(dir, 'proc/sys/kernel/random/boot_id'), 'utf8').trim();
        const rebooted = await run(['reboot', dir]);
        assert.equal(rebooted.code, 0, rebooted.err);
        assert.equal(rebooted.out, `simulated host in ${dir} rebooted: boot_id ${fs.readFileSync(path.join(dir, 'proc/sys/kernel/random/boot_id'), 'utf8').trim()}\n`);
        assert.doesNotMatch(rebooted.out, new RegExp(bootId));
        const bad = await run(['create', 'no-such', path.join(dir, 'x')]);
        assert.equal(bad.code, 1);
        assert.match(bad.err, /^no built-in scenario named "no-such"/);
        assert.equal((await run(['frobnicate'])).code, 2);
      } finally {
        fs.rmSync(path.dirname(dir), { recursive: true, force: true });
      }
    });
  });
});
