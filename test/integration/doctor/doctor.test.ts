import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Check } from '../../../src/doctor/check';
import type { DoctorReport } from '../../../src/doctor/doctor-report';
import { hookctl } from '../cli/hookctl';
import type { ScenarioFile } from '../../../src/sim/scenario';
import { doctorHost, domainXml, type DoctorHost, type DoctorHostOptions } from './doctor-host';

// No bus in these tests: the daemon line always reads "cannot be asked" (e2e/packaging covers a
// running daemon), so every run here exits 1; the other lines are what each test is about.

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  report: DoctorReport;
}

function doctor(host: DoctorHost, ...args: string[]): Run {
  const bus = `unix:path=${path.join(host.root, 'no-bus')}`;
  const json = hookctl('doctor', '--root', host.root, '--bus', bus, '--json', ...args);
  const text = hookctl('doctor', '--root', host.root, '--bus', bus, ...args);
  assert.equal(json.stderr, '', json.stderr);
  assert.equal(json.code, text.code, 'the checklist and --json agree on the exit code');
  return { code: text.code, stdout: text.stdout, stderr: text.stderr, report: JSON.parse(json.stdout) as DoctorReport };
}

function check(run: Run, id: string): Check {
  const found = [...run.report.host, ...run.report.vmChecks].find((c) => c.id === id);
  assert.ok(found, `no check ${id} in ${JSON.stringify(run.report, null, 1)}`);
  return found;
}

async function withHost(scenario: string, options: DoctorHostOptions, body: (host: DoctorHost) => void | Promise<void>): Promise<void> {
  const host = await doctorHost(scenario, options);
  try {
    await body(host);
  } finally {
    await host.dispose();
  }
}

describe('gpu-hookctl doctor on simulated hosts', function () {
  this.timeout(30_000);

  it('resets: an AMD Polaris card without vendor-reset, and a GPU with none, warn with what to do; the list says the same', async () => {
    const polaris = (s: ScenarioFile): void => {
      const gpu = s.devices.find((d) => d.address === '0000:01:00.0');
      if (gpu) gpu.vendor = '1002';
      if (gpu) gpu.device = '67df';
      const nouveau = s.modules?.find((m) => m.name === 'nouveau');
      nouveau?.drivers?.forEach((d) => d.ids?.push('1002:67df'));
    };
    await withHost('seed', { scenario: polaris }, (host) => {
      const run = doctor(host);
      const c = check(run, 'reset.0000:01:00.0');
      assert.equal(c.status, 'warn');
      assert.match(c.detail, /^0000:01:00\.0 is an AMD Polaris 10 card, which the kernel cannot reset by itself after a VM used it .*\(reset methods: bus\)$/);
      assert.match(c.fix ?? '', /^install vendor-reset/);
      assert.match(run.stdout, /! 0000:01:00\.0 is an AMD Polaris 10 card/);
      const list = JSON.parse(hookctl('list', '--json', '--root', host.root).stdout) as { gpus: { resetRisk: string | null; resets: { vendorResetFamily: string } }[] };
      assert.equal(list.gpus[0].resets.vendorResetFamily, 'Polaris 10');
      assert.match(list.gpus[0].resetRisk ?? '', /^0000:01:00\.0 is an AMD Polaris 10 card.*: install vendor-reset/);
    });
    const noReset = (s: ScenarioFile): void => {
      for (const d of s.devices) if (d.address.startsWith('0000:01:00.')) d.reset = { pm: false };
    };
    await withHost('seed', { scenario: noReset }, (host) => {
      const c = check(doctor(host), 'reset.0000:01:00.0');
      assert.equal(c.status, 'warn');
      assert.match(c.detail, /^0000:01:00\.0 has no reset the kernel can use/);
    });
    await withHost('seed', {}, (host) => {
      const c = check(doctor(host), 'reset.0000:01:00.0');
      assert.deepEqual([c.status, c.detail], ['ok', 'the kernel resets 0000:01:00.0 with pm']);
    });
  });

  it('the seed host, hook installed before libvirtd started: every host line passes but the daemon', async () => {
    await withHost('seed', {}, (host) => {
      const run = doctor(host);
      assert.equal(run.code, 1);
      assert.deepEqual(
        run.report.host.filter((c) => c.status !== 'ok').map((c) => c.id),
        ['daemon'],
      );
      assert.match(check(run, 'iommu').detail, /IOMMU on: \d+ groups .*intel_iommu=on iommu=pt/);
      assert.match(check(run, 'gpu.0000:01:00.0').detail, /IOMMU group 13 is viable: 4 functions move together/);
      assert.match(check(run, 'hook').detail, /installed and libvirtd started after it/);
      assert.match(run.stdout, /^✔ Intel VT-x \(vmx\), \/dev\/kvm present$/m);
      assert.match(run.stdout, /^✖ gpu-hookd cannot be asked: .*no-bus.*\n {4}fix: /m);
      assert.match(run.stdout, /^\d+ ok, 0 warnings, 1 failed: fix the ✖ lines above/m);
    });
  });

  it('no virtualization flag in /proc/cpuinfo: ✖ with the firmware setting to enable', async () => {
    await withHost('seed', {}, (host) => {
      const cpuinfo = path.join(host.root, 'proc/cpuinfo');
      fs.writeFileSync(cpuinfo, fs.readFileSync(cpuinfo, 'utf8').replace(/ vmx/g, ''));
      const c = check(doctor(host), 'cpu-virtualization');
      assert.equal(c.status, 'fail');
      assert.match(c.fix ?? '', /VT-x.*firmware setup/);
    });
  });

  it('no /dev/kvm: ✖ naming the module to load', async () => {
    await withHost('amd', { kvm: false }, (host) => {
      const c = check(doctor(host), 'cpu-virtualization');
      assert.equal(c.status, 'fail');
      assert.equal(c.fix?.startsWith('sudo modprobe kvm_amd'), true, c.fix);
    });
  });

  it('IOMMU off and intel_iommu=on missing: ✖ with the kernel command line to add', async () => {
    const off = (s: Parameters<NonNullable<DoctorHostOptions['scenario']>>[0]): void => {
      s.iommu = false;
      s.kernel = { ...s.kernel, cmdline: 'BOOT_IMAGE=/vmlinuz-linux root=/dev/sda2 rw quiet' };
    };
    await withHost('seed', { scenario: off }, (host) => {
      const run = doctor(host);
      const c = check(run, 'iommu');
      assert.equal(c.status, 'fail');
      assert.match(c.detail, /\/sys\/kernel\/iommu_groups is empty \(no IOMMU switch on the kernel command line\)/);
      assert.match(c.fix ?? '', /^add intel_iommu=on iommu=pt to the kernel command line: .*GRUB_CMDLINE_LINUX_DEFAULT/);
      assert.equal(check(run, 'gpu.0000:01:00.0').status, 'fail', 'a GPU in no group cannot go to a VM');
    });
  });

  it('IOMMU off although intel_iommu=on is set: ✖ pointing at VT-d in the firmware', async () => {
    await withHost('seed', { scenario: (s) => void (s.iommu = false) }, (host) => {
      const c = check(doctor(host), 'iommu');
      assert.equal(c.status, 'fail');
      assert.match(c.fix ?? '', /VT-d is off in the firmware/);
    });
  });

  it('AMD with amd_iommu=off: ✖ saying to remove it', async () => {
    const off = (s: Parameters<NonNullable<DoctorHostOptions['scenario']>>[0]): void => {
      s.iommu = false;
      s.kernel = { ...s.kernel, cmdline: 'root=/dev/nvme0n1p2 rw amd_iommu=off' };
    };
    await withHost('amd', { scenario: off }, (host) => {
      const c = check(doctor(host), 'iommu');
      assert.equal(c.status, 'fail');
      assert.match(c.fix ?? '', /^remove amd_iommu=off from the kernel command line/);
    });
  });

  it('vfio-pci not loaded but installed: ✔, gpu-hookd loads it', async () => {
    await withHost('seed', { scenario: (s) => void (s.vfio = { loaded: false }) }, (host) => {
      const c = check(doctor(host), 'vfio');
      assert.equal(c.status, 'ok');
      assert.match(c.detail, /gpu-hookd loads it at the first VM start/);
    });
  });

  it('vfio-pci neither loaded nor installed: ✖', async () => {
    await withHost('seed', { scenario: (s) => void (s.vfio = { loaded: false }) }, (host) => {
      const dep = path.join(host.root, 'lib/modules/6.6.8-arch1-1/modules.dep');
      fs.writeFileSync(dep, fs.readFileSync(dep, 'utf8').split('\n').filter((l) => !/vfio/.test(l.split(':')[0])).join('\n'));
      const c = check(doctor(host), 'vfio');
      assert.equal(c.status, 'fail');
      assert.match(c.detail, /neither loaded, built in, nor installed as a module for 6\.6\.8-arch1-1/);
    });
  });

  it('vfio-pci loaded without /dev/vfio/vfio: ✖', async () => {
    await withHost('seed', {}, (host) => {
      fs.rmSync(path.join(host.root, 'dev/vfio/vfio'));
      assert.equal(check(doctor(host), 'vfio').status, 'fail');
    });
  });

  it('a GPU sharing its IOMMU group with a NIC in use: ✖ naming the NIC', async () => {
    await withHost('shared-group', {}, (host) => {
      const c = check(doctor(host), 'gpu.0000:01:00.0');
      assert.equal(c.status, 'fail');
      assert.match(c.detail, /not viable: 0000:02:00\.0 \(.*I211.* on igb\)/);
      assert.match(c.fix ?? '', /takes 0000:02:00\.0 from its driver only for a VM whose domain names it as a <hostdev> too/);
    });
  });

  it('the hook: missing, not executable, someone else\'s: ✖ each with its fix', async () => {
    await withHost('seed', { hook: 'none' }, (host) => {
      const c = check(doctor(host), 'hook');
      assert.equal(c.status, 'fail');
      assert.match(c.detail, /hooks\/qemu\.d\/gpu-hookd is missing/);
    });
    await withHost('seed', { hook: 'not-executable' }, (host) => {
      const c = check(doctor(host), 'hook');
      assert.equal(c.status, 'fail');
      assert.equal(c.fix, 'sudo chmod 0755 /usr/lib/gpu-hookd/hooks/qemu');
    });
    await withHost('seed', { hook: 'foreign' }, (host) => {
      const c = check(doctor(host), 'hook');
      assert.equal(c.status, 'fail');
      assert.match(c.detail, /is not gpu-hookd's hook/);
    });
  });

  it('libvirtd started before the hook existed: ✖ restart libvirtd; not running: a warning', async () => {
    await withHost('seed', { libvirtd: 'before' }, (host) => {
      const c = check(doctor(host), 'hook');
      assert.equal(c.status, 'fail');
      assert.match(c.detail, /libvirtd \(pid 4321\) started before it/);
      assert.equal(c.fix, 'sudo systemctl restart libvirtd (once; running VMs keep running)');
    });
    await withHost('seed', { libvirtd: 'none' }, (host) => {
      const c = check(doctor(host), 'hook');
      assert.equal(c.status, 'warn');
      assert.match(c.fix ?? '', /systemctl start libvirtd/);
    });
  });

  it('an invalid config file: ✖ with the config\'s own sentence', async () => {
    await withHost('seed', { config: '{ "log": { "level": "loud" } }' }, (host) => {
      const c = check(doctor(host), 'config');
      assert.equal(c.status, 'fail');
      assert.match(c.detail, /log\.level/);
      assert.match(c.fix ?? '', /etc\/gpu-hookd\/config\.json/);
    });
  });

  describe('a VM', () => {
    let host: DoctorHost;
    let dir: string;
    before(async () => {
      host = await doctorHost('seed', { config: JSON.stringify({ vms: { iso: { isolateCpus: true } } }) });
      dir = path.join(host.root, 'domains');
      fs.mkdirSync(dir);
    });
    after(() => host.dispose());

    function doctorVm(xml: string, ...args: string[]): Run {
      const file = path.join(dir, `d${fs.readdirSync(dir).length}.xml`);
      fs.writeFileSync(file, xml);
      return doctor(host, '--xml', file, ...args);
    }

    it('the seed guide\'s win10: every VM line passes; functions not given are moved by gpu-hookd', () => {
      const run = doctorVm(domainXml(), 'win10');
      assert.equal(run.report.vm, 'win10');
      assert.deepEqual(run.report.vmChecks.filter((c) => c.status !== 'ok'), []);
      assert.deepEqual(run.report.vmChecks.map((c) => c.id), ['vm.group.0000:01:00.0', 'vm.machine', 'vm.firmware', 'vm.cpu', 'vm.nvidia', 'vm.cpus']);
      assert.match(
        check(run, 'vm.group.0000:01:00.0').detail,
        /0000:01:00\.0, 0000:01:00\.1 given to win10; 0000:01:00\.2, 0000:01:00\.3 moved to vfio-pci by gpu-hookd/,
      );
      assert.match(run.stdout, /\nVM win10\n✔ /);
    });

    it('i440fx, BIOS and no CPU mode: three ✖, each with the exact edit', () => {
      const run = doctorVm(domainXml({ machine: 'pc-i440fx-8.1', uefi: false, cpuMode: null }));
      assert.equal(check(run, 'vm.machine').status, 'fail');
      assert.match(check(run, 'vm.firmware').fix ?? '', /<os firmware='efi'>/);
      assert.match(check(run, 'vm.cpu').fix ?? '', /<cpu mode='host-passthrough' check='none' migratable='on'\/>/);
    });

    it('a GeForce without the hidden hypervisor: a warning listing the three elements', () => {
      const c = check(doctorVm(domainXml({ hideHypervisor: false })), 'vm.nvidia');
      assert.equal(c.status, 'warn');
      assert.match(c.fix ?? '', /<vendor_id state='on'.*<hidden state='on'\/>.*<ioapic driver='kvm'\/>/);
    });

    it('no GPU hostdev, or a device the host lacks: ✖', () => {
      const none = doctorVm(domainXml({ hostdevs: [] }));
      assert.equal(check(none, 'vm.gpu').status, 'fail');
      assert.match(check(none, 'vm.gpu').fix ?? '', /<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'\/>/);
      const missing = doctorVm(domainXml({ hostdevs: ['0000:01:00.0', '0000:09:00.0'] }));
      assert.equal(check(missing, 'vm.device.0000:09:00.0').status, 'fail');
    });

    it('the name on the command line must match the XML\'s', () => {
      const file = path.join(dir, 'named.xml');
      fs.writeFileSync(file, domainXml({ name: 'linux' }));
      const r = hookctl('doctor', '--root', host.root, '--bus', 'unix:path=/nonexistent', '--xml', file, 'win10');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^gpu-hookctl doctor: the domain XML is for "linux" but the call names "win10"\n$/);
    });

    it('CPU isolation without pins: ✖ with the daemon\'s own sentence; with pins on housekeeping CPUs: ✖', () => {
      const unpinned = check(doctorVm(domainXml({ name: 'iso' })), 'vm.cpus');
      assert.equal(unpinned.status, 'fail');
      assert.match(unpinned.detail, /its CPUs are unknown/);
      assert.match(unpinned.fix ?? '', /set pin to "auto"/);

      const metadata = "<hookd:vm xmlns:hookd='https://gpuhookd.org/xmlns/vm/1' isolateCpus='yes' housekeepingCpus='0-1'/>";
      const pins: [number, string][] = [[0, '1'], [1, '2']];
      const clash = check(doctorVm(domainXml({ name: 'pinned', vcpus: 2, vcpupins: pins, metadata })), 'vm.cpus');
      assert.equal(clash.status, 'fail');
      assert.match(clash.detail, /CPU 1, which the host keeps for itself/);

      const fine = check(doctorVm(domainXml({ name: 'pinned', vcpus: 2, vcpupins: [[0, '2'], [1, '3']], metadata })), 'vm.cpus');
      assert.equal(fine.status, 'ok', fine.detail);
      assert.match(fine.detail, /pinned runs on CPUs 2-3 and the host keeps 0-1/);
    });

    it('a vCPU pinned to a CPU the host does not have: ✖', () => {
      const c = check(doctorVm(domainXml({ vcpus: 1, vcpupins: [[0, '40']] })), 'vm.cpus');
      assert.equal(c.status, 'fail');
      assert.match(c.detail, /CPU 40, which this host does not have/);
    });
  });

  it('a VM whose GPU shares its group with a NIC in use: ✖ naming the NIC', async () => {
    await withHost('shared-group', {}, (host) => {
      const file = path.join(host.root, 'vm.xml');
      fs.writeFileSync(file, domainXml());
      const c = check(doctor(host, '--xml', file), 'vm.group.0000:01:00.0');
      assert.equal(c.status, 'fail');
      assert.match(c.detail, /0000:02:00\.0 \(.*on igb\) shares the group/);
    });
  });

  it('reads only: the host tree is the same before and after', async () => {
    await withHost('seed', {}, (host) => {
      const snapshot = (): string[] => {
        const lines: string[] = [];
        const walk = (rel: string): void => {
          const p = path.join(host.root, rel);
          const st = fs.lstatSync(p);
          if (st.isSymbolicLink()) lines.push(`${rel} -> ${fs.readlinkSync(p)}`);
          else if (st.isDirectory()) for (const name of fs.readdirSync(p).sort()) walk(path.join(rel, name));
          else lines.push(`${rel} ${st.mode} ${st.mtimeMs} ${st.size}`);
        };
        walk('.');
        return lines;
      };
      const before = snapshot();
      doctor(host);
      assert.deepEqual(snapshot(), before);
    });
  });
});
