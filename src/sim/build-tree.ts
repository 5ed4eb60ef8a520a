// Builds a simulated host's tree from a scenario: the static parts (devices, groups, CPUs, procfs)
// written directly, then the boot state (modules, bound drivers, framebuffers, consoles) replayed
// through the same emulator functions that later writes use, so both always agree.

import { randomUUID } from 'node:crypto';
import { createFirmwareFb, writeVtconsole } from './console-model';
import { KernelContext, ScenarioIndex } from './kernel-context';
import { bootModules } from './module-model';
import { bind, setOverride } from './pci-binding';
import { writeResetFiles } from './reset-model';
import { writeCpus } from './cpu-model';
import { FBCON_NAME, PciDeviceSpec, ProcessSpec, Scenario } from './scenario';
import { SimPaths, SimState, writeState } from './sim-state';
import {
  formatCpuList,
  iommuGroupDir,
  pciBusDevice,
  platformDriverDir,
} from './sysfs-layout';
import { cpuLayout } from './cpu-model';
import { Tree } from './tree';

export function initialState(zeroDelays: boolean): SimState {
  return {
    version: 1,
    zeroDelays,
    drivers: {},
    overrides: {},
    modules: [],
    pciDrivers: [],
    dynIds: {},
    pending: [],
    framebuffers: [],
    vtconsoles: [],
    fbconFramebuffer: null,
    firmwareFb: null,
    drmMinors: {},
    offlineCpus: [],
    heldGroups: {},
    unbindsWaiting: [],
    resetMethods: {},
    wedged: {},
  };
}

export function buildTree(root: string, scenario: Scenario, zeroDelays: boolean): void {
  const tree = new Tree(root);
  const paths = new SimPaths(root);
  tree.dir('.gpu-hookd-sim');
  tree.file('.gpu-hookd-sim/scenario.json', JSON.stringify(scenario, null, 2));

  const state = initialState(zeroDelays);
  state.offlineCpus = [...scenario.cpu.offline].sort((a, b) => a - b);
  const k = new KernelContext(tree, new ScenarioIndex(scenario), state, Date.now());
  k.booting = true;

  writeBusSkeleton(tree, scenario);
  for (const d of scenario.devices) writePciDevice(k, d);
  writeCpus(tree, scenario.cpu, state.offlineCpus);
  writeProcfs(tree, scenario);
  writeProcesses(tree, scenario);

  const fw = scenario.firmwareFramebuffer;
  // efifb registers its framebuffer early in boot, before any module: it gets fb0.
  if (fw.state === 'bound-with-fb') createFirmwareFb(k, true, true);
  for (const d of scenario.devices) if (d.driverOverride !== null) setOverride(k, d.address, d.driverOverride);
  bootModules(k);
  for (const d of scenario.devices) if (d.driver !== null) bind(k, d, d.driver);
  if (fw.state === 'bound' || fw.state === 'unbound') createFirmwareFb(k, fw.state === 'bound', false);

  const fbconBound = scenario.vtconsoles.includes(FBCON_NAME);
  const fallback = scenario.vtconsoles.find((v) => v !== null && v !== FBCON_NAME);
  scenario.vtconsoles.forEach((name, index) => {
    if (name === null) return;
    const bound = name === FBCON_NAME ? true : !fbconBound && name === fallback;
    const v = { index, name, bound };
    state.vtconsoles.push(v);
    writeVtconsole(k, v);
  });
  // At boot fbcon took the first framebuffer that registered, and moved to the boot VGA's once that
  // one registered (its primary).
  const fbs = state.framebuffers.map((f) => f.index);
  const primary = state.framebuffers.find((f) => k.device(f.owner)?.bootVga === true)?.index ?? null;
  state.fbconPrimary = primary;
  state.fbconBootMap = primary ?? 0;
  state.fbconFramebuffer = fbconBound && fbs.length > 0 ? (primary ?? Math.min(...fbs)) : null;
  writeState(paths, state, false);
}

function writeBusSkeleton(tree: Tree, s: Scenario): void {
  tree.file('sys/bus/pci/drivers_probe', '');
  tree.file('sys/bus/pci/drivers_autoprobe', '1\n');
  tree.file('sys/bus/pci/rescan', '');
  tree.dir('sys/bus/pci/drivers');
  tree.dir('sys/bus/pci/devices');
  tree.dir('sys/kernel/iommu_groups');
  tree.dir('sys/class/vtconsole');
  tree.dir('sys/class/graphics');
  tree.dir('sys/bus/platform/devices');
  tree.dir('sys/module');
  tree.file('proc/fb', '');
  if (s.fbcon) {
    tree.file('sys/devices/virtual/graphics/fbcon/rotate', '0\n');
    tree.link('sys/class/graphics/fbcon', 'sys/devices/virtual/graphics/fbcon');
  }
  const kind = s.firmwareFramebuffer.kind;
  if (kind !== 'none') {
    for (const f of ['bind', 'unbind', 'uevent']) tree.file(`${platformDriverDir(kind)}/${f}`, '');
  }
  const release = s.kernel.release;
  const loadable = s.modules.filter((m) => !m.builtin);
  tree.file(
    `lib/modules/${release}/modules.dep`,
    loadable.map((m) => `${modulePath(m.name)}: ${m.deps.map(modulePath).join(' ')}`.trimEnd() + '\n').join(''),
  );
  tree.file(`lib/modules/${release}/modules.builtin`, s.modules.filter((m) => m.builtin).map((m) => `${modulePath(m.name)}\n`).join(''));
}

function modulePath(name: string): string {
  return `kernel/drivers/${name}.ko`;
}

function writePciDevice(k: KernelContext, d: PciDeviceSpec): void {
  const { tree } = k;
  const dir = k.deviceDir(d.address);
  const hex = (v: string) => `0x${v}\n`;
  tree.file(`${dir}/vendor`, hex(d.vendor));
  tree.file(`${dir}/device`, hex(d.device));
  tree.file(`${dir}/subsystem_vendor`, hex(d.subsystemVendor));
  tree.file(`${dir}/subsystem_device`, hex(d.subsystemDevice));
  tree.file(`${dir}/class`, hex(d.class));
  tree.file(`${dir}/revision`, hex(d.revision));
  tree.file(`${dir}/driver_override`, '(null)\n');
  tree.file(`${dir}/irq`, `${d.irq}\n`);
  tree.file(`${dir}/numa_node`, `${d.numaNode}\n`);
  tree.file(`${dir}/enable`, '1\n');
  tree.file(`${dir}/config`, configSpace(k, d));
  const up = (v: string) => v.toUpperCase();
  tree.file(
    `${dir}/modalias`,
    `pci:v0000${up(d.vendor)}d0000${up(d.device)}sv0000${up(d.subsystemVendor)}sd0000${up(d.subsystemDevice)}` +
      `bc${up(d.class.slice(0, 2))}sc${up(d.class.slice(2, 4))}i${up(d.class.slice(4))}\n`,
  );
  for (const f of ['remove', 'rescan']) tree.file(`${dir}/${f}`, '');
  writeResetFiles(k, d);
  if (d.class.startsWith('0300')) tree.file(`${dir}/boot_vga`, d.bootVga ? '1\n' : '0\n');
  tree.link(`${dir}/subsystem`, 'sys/bus/pci');
  tree.link(pciBusDevice(d.address), dir);
  if (d.iommuGroup !== null) {
    const group = iommuGroupDir(d.iommuGroup);
    if (!tree.exists(`${group}/type`)) {
      tree.file(`${group}/type`, `${k.scenario.iommuGroupType}\n`);
      tree.file(`${group}/reserved_regions`, '0x00000000fee00000 0x00000000feefffff msi\n');
    }
    tree.link(`${dir}/iommu_group`, group);
    tree.link(`${group}/devices/${d.address}`, dir);
  }
}

/** 256 bytes of configuration space: ids, class, header type (bridges: type 1 with bus numbers). */
function configSpace(k: KernelContext, d: PciDeviceSpec): Buffer {
  const c = Buffer.alloc(256);
  c.writeUInt16LE(parseInt(d.vendor, 16), 0x00);
  c.writeUInt16LE(parseInt(d.device, 16), 0x02);
  c.writeUInt16LE(0x0007, 0x04);
  c.writeUInt16LE(0x0010, 0x06);
  c.writeUInt8(parseInt(d.revision, 16), 0x08);
  c.writeUInt8(parseInt(d.class.slice(4, 6), 16), 0x09);
  c.writeUInt8(parseInt(d.class.slice(2, 4), 16), 0x0a);
  c.writeUInt8(parseInt(d.class.slice(0, 2), 16), 0x0b);
  const slot = d.address.slice(0, -2);
  const multifunction = d.address.endsWith('.0') && k.scenario.devices.some((o) => o !== d && o.address.startsWith(`${slot}.`));
  const bridge = k.isBridge(d);
  c.writeUInt8((bridge ? 0x01 : 0x00) | (multifunction ? 0x80 : 0), 0x0e);
  if (bridge) {
    const children = k.scenario.devices.filter((o) => o.parent === d.address).map((o) => parseInt(o.address.slice(5, 7), 16));
    const secondary = children.length ? Math.min(...children) : 0;
    c.writeUInt8(parseInt(d.address.slice(5, 7), 16), 0x18);
    c.writeUInt8(secondary, 0x19);
    c.writeUInt8(children.length ? Math.max(...subordinateBuses(k, d.address)) : 0, 0x1a);
  } else {
    c.writeUInt16LE(parseInt(d.subsystemVendor, 16), 0x2c);
    c.writeUInt16LE(parseInt(d.subsystemDevice, 16), 0x2e);
  }
  c.writeUInt8(d.irq & 0xff, 0x3c);
  c.writeUInt8(1, 0x3d);
  if (!bridge) writeCapabilities(c, d);
  return c;
}

/** A PM capability at 0x40 (No_Soft_Reset set unless a D3hot cycle resets the function) and a PCIe
 *  capability at 0x50 (FLR in Device Capabilities when the function has it). */
function writeCapabilities(c: Buffer, d: PciDeviceSpec): void {
  c.writeUInt16LE(c.readUInt16LE(0x06) | 0x10, 0x06);
  c.writeUInt8(0x40, 0x34);
  c.writeUInt8(0x01, 0x40);
  c.writeUInt8(0x50, 0x41);
  c.writeUInt16LE(0x0003, 0x42);
  c.writeUInt16LE(d.reset.pm ? 0 : 0x08, 0x44);
  c.writeUInt8(0x10, 0x50);
  c.writeUInt8(0x00, 0x51);
  c.writeUInt16LE(0x0002, 0x52);
  c.writeUInt32LE(d.reset.flr ? 1 << 28 : 0, 0x54);
}

function subordinateBuses(k: KernelContext, bridge: string): number[] {
  const below = k.scenario.devices.filter((o) => o.parent === bridge);
  return below.flatMap((o) => [parseInt(o.address.slice(5, 7), 16), ...subordinateBuses(k, o.address)]);
}

function writeProcfs(tree: Tree, s: Scenario): void {
  tree.file('proc/cmdline', `${s.kernel.cmdline}\n`);
  tree.file('proc/sys/kernel/osrelease', `${s.kernel.release}\n`);
  // A fresh boot id per built tree, as the kernel makes one per boot: state from "another boot" is stale.
  tree.file('proc/sys/kernel/random/boot_id', `${randomUUID()}\n`);
  tree.file('proc/version', `Linux version ${s.kernel.release} (simulated by gpu-hookd) #1 SMP PREEMPT_DYNAMIC\n`);
  const all = cpuLayout(s.cpu).map((p) => p.cpu);
  const mask = allCpuMask(all);
  tree.file('proc/irq/default_smp_affinity', `${mask}\n`);
  const irqs = [...new Set([...s.irqs, ...s.devices.map((d) => d.irq)])].sort((a, b) => a - b);
  for (const irq of irqs) {
    tree.file(`proc/irq/${irq}/smp_affinity_list`, `${formatCpuList(all)}\n`);
    tree.file(`proc/irq/${irq}/smp_affinity`, `${mask}\n`);
    tree.file(`proc/irq/${irq}/effective_affinity_list`, `${all[irq % all.length]}\n`);
  }
}

function allCpuMask(cpus: number[]): string {
  let mask = 0n;
  for (const c of cpus) mask |= 1n << BigInt(c);
  const hex = mask.toString(16);
  const groups: string[] = [];
  for (let end = hex.length; end > 0; end -= 8) groups.unshift(hex.slice(Math.max(0, end - 8), end).padStart(8, '0'));
  return groups.join(',');
}

function writeProcesses(tree: Tree, s: Scenario): void {
  for (const p of s.processes) writeProcess(tree, s, p);
}

/** One scenario process's proc/<pid> entry (also used when a simulated process starts again). */
export function writeProcess(tree: Tree, s: Scenario, p: ProcessSpec): void {
  const all = formatCpuList(cpuLayout(s.cpu).map((c) => c.cpu));
  const dir = `proc/${p.pid}`;
  tree.file(`${dir}/comm`, `${p.comm}\n`);
  tree.file(`${dir}/cmdline`, p.cmdline.map((a) => `${a}\0`).join(''));
  tree.file(`${dir}/status`, `Name:\t${p.comm}\nState:\tS (sleeping)\nPid:\t${p.pid}\nCpus_allowed_list:\t${all}\n`);
  tree.dir(`${dir}/fd`);
  p.fds.forEach((target, i) => tree.rawLink(`${dir}/fd/${i + 3}`, target));
  const threads = [{ tid: p.pid, comm: p.comm }, ...p.threads];
  for (const t of threads) {
    tree.file(`${dir}/task/${t.tid}/comm`, `${t.comm}\n`);
    tree.file(`${dir}/task/${t.tid}/status`, `Name:\t${t.comm}\nPid:\t${t.tid}\nCpus_allowed_list:\t${all}\n`);
  }
}
