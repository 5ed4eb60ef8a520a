import assert from 'node:assert/strict';
import { builtinScenarioNames, loadScenario } from '../../src/sim/scenarios';
import { ALL_SCENARIOS } from './lab-scenarios';
import { GUEST_MODULES, moduleFilesFromShowDepends } from './runner/initramfs';
import { kernelPackageFromDepends } from './runner/kernel-package';
import { librariesFromLdd } from './runner/node-sysroot';
import { kernelCommandLine, qemuArgs } from './runner/qemu-machine';

describe('lab runner (no boot)', () => {
  it('finds the kernel package linux-image-amd64 depends on', () => {
    const out = 'linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n';
    assert.equal(kernelPackageFromDepends(out), 'linux-image-6.1.0-56-amd64');
    assert.equal(kernelPackageFromDepends('linux-image-amd64\n'), undefined);
  });

  it("reads node's libraries, loader included, from ldd", () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f39)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f39)',
    ].join('\n');
    assert.deepEqual(librariesFromLdd(out), ['/lib/x86_64-linux-gnu/libdl.so.2', '/lib64/ld-linux-x86-64.so.2']);
  });

  it('takes module files, relative to the kernel tree, from modprobe --show-depends', () => {
    const out = 'builtin crc32c\ninsmod /cache/k/lib/modules/6.1/kernel/drivers/vfio/vfio.ko \ninsmod /cache/k/lib/modules/6.1/kernel/drivers/vfio/pci/vfio-pci.ko ids=1\n';
    assert.deepEqual(moduleFilesFromShowDepends(out, '/cache/k'), [
      'lib/modules/6.1/kernel/drivers/vfio/pci/vfio-pci.ko',
      'lib/modules/6.1/kernel/drivers/vfio/vfio.ko',
    ]);
  });

  it('boots every scenario on q35 with the IOMMU, TCG, no reboot, read-only project and sysroot shares', () => {
    for (const s of ALL_SCENARIOS) {
      const args = qemuArgs(s.machine, {
        kernel: '/k',
        initramfs: '/i',
        shares: { project: { dir: '/p', writable: false }, out: { dir: '/o', writable: true } },
      }).join(' ');
      assert.match(args, /-machine q35,kernel-irqchip=split -accel tcg /, s.name);
      assert.match(args, /-device intel-iommu,intremap=on/, s.name);
      assert.match(args, /-no-reboot/, s.name);
      assert.match(args, /path=\/p,mount_tag=project,security_model=none,readonly=on/, s.name);
      assert.match(args, /path=\/o,mount_tag=out,security_model=none( |$)/, s.name);
      assert.equal(args.includes('-bios'), s.machine.firmware === 'ovmf', s.name);
      assert.match(kernelCommandLine(s.machine), /intel_iommu=on iommu=pt panic=-1/);
    }
  });

  it('every module a scenario loads is in the initramfs', () => {
    for (const s of ALL_SCENARIOS) {
      assert.deepEqual(s.machine.modules.filter((m) => !GUEST_MODULES.includes(m)), [], s.name);
    }
  });

  it("every scenario's simulated twin is a valid built-in scenario", () => {
    for (const s of ALL_SCENARIOS) {
      assert.ok(builtinScenarioNames().includes(s.simScenario), `${s.simScenario} is not a built-in scenario`);
      assert.equal(loadScenario(s.simScenario).name, s.simScenario);
    }
  });
});
