// Turns untrusted scenario JSON into a Scenario: checks every field (one sentence naming the bad
// field on the first problem), fills defaults, adds the modules every kernel has (vfio, pcieport),
// and checks that the parts agree (drivers exist, parents are bridges, fbcon has a framebuffer).

import { parsePciAddress, isPciAddress } from '../host/pci-address';
import {
  CpuSpec,
  DriverSpec,
  FBCON_NAME,
  FirmwareFramebufferKind,
  FirmwareFramebufferState,
  ModuleSpec,
  PciDeviceSpec,
  ProcessSpec,
  Scenario,
} from './scenario';
import { VFIO_PCI } from './pci-binding';
import { parseIdPattern } from './pci-id-match';

export class ScenarioError extends Error {
  constructor(
    readonly source: string,
    readonly field: string,
    problem: string,
  ) {
    super(`scenario ${source}: ${field} ${problem}`);
    this.name = 'ScenarioError';
  }
}

type Obj = Record<string, unknown>;

/** Reads fields of one object, naming each by its path in the file when it is wrong. */
class Fields {
  constructor(
    private readonly source: string,
    readonly at: string,
    readonly obj: Obj,
  ) {}

  static root(source: string, value: unknown): Fields {
    if (!isObj(value)) throw new ScenarioError(source, 'the file', 'must hold a JSON object');
    return new Fields(source, '', value);
  }

  path(key: string): string {
    return this.at ? `${this.at}.${key}` : key;
  }

  fail(key: string, problem: string): never {
    throw new ScenarioError(this.source, this.path(key), problem);
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined;
  }

  onlyKeys(keys: string[]): void {
    for (const k of Object.keys(this.obj)) {
      if (!keys.includes(k)) this.fail(k, `is not a known field (known here: ${keys.join(', ')})`);
    }
  }

  string(key: string, fallback?: string): string {
    const v = this.obj[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v === '') this.fail(key, `must be a non-empty string, got ${show(v)}`);
    return v;
  }

  hex(key: string, digits: number, fallback?: string): string {
    const v = this.string(key, fallback).toLowerCase().replace(/^0x/, '');
    if (!new RegExp(`^[0-9a-f]{${digits}}$`).test(v)) {
      this.fail(key, `must be ${digits} hex digits, got ${show(this.obj[key])}`);
    }
    return v;
  }

  int(key: string, min: number, max: number, fallback?: number): number {
    const v = this.obj[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(key, `must be an integer from ${min} to ${max}, got ${show(v)}`);
    }
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${show(v)}`);
    return v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback?: T): T {
    const v = this.obj[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || !allowed.includes(v as T)) {
      this.fail(key, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${show(v)}`);
    }
    return v as T;
  }

  child(key: string): Fields {
    const v = this.obj[key];
    if (!isObj(v)) this.fail(key, `must be an object, got ${show(v)}`);
    return new Fields(this.source, this.path(key), v);
  }

  /** Each element as Fields (objects) or raw values; missing key gives []. */
  list(key: string): unknown[] {
    const v = this.obj[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) this.fail(key, `must be a list, got ${show(v)}`);
    return v;
  }

  objects(key: string): Fields[] {
    return this.list(key).map((v, i) => {
      if (!isObj(v)) this.fail(`${key}[${i}]`, `must be an object, got ${show(v)}`);
      return new Fields(this.source, this.path(`${key}[${i}]`), v);
    });
  }

  strings(key: string): string[] {
    return this.list(key).map((v, i) => {
      if (typeof v !== 'string' || v === '') this.fail(`${key}[${i}]`, `must be a non-empty string, got ${show(v)}`);
      return v;
    });
  }

  ints(key: string, min: number, max: number): number[] {
    return this.list(key).map((v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        this.fail(`${key}[${i}]`, `must be an integer from ${min} to ${max}, got ${show(v)}`);
      }
      return v;
    });
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MODULE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const FB_KINDS: readonly FirmwareFramebufferKind[] = ['efi-framebuffer', 'simple-framebuffer', 'vesa-framebuffer', 'none'];
const FB_STATES: readonly FirmwareFramebufferState[] = ['bound-with-fb', 'bound', 'unbound', 'removed'];

/** Validates raw scenario data (parsed JSON or a built-in object); `source` names it in errors. */
export function parseScenario(raw: unknown, source: string): Scenario {
  const f = Fields.root(source, raw);
  f.onlyKeys([
    'name', 'description', 'kernel', 'cpu', 'iommu', 'vfio', 'modules', 'devices',
    'firmwareFramebuffer', 'consoles', 'processes', 'displayManager', 'irqs',
  ]);
  const name = f.string('name');
  if (!NAME.test(name)) f.fail('name', `must be letters, digits, "-", "_" or "." (at most 64), got ${show(name)}`);

  const kernel = f.has('kernel') ? f.child('kernel') : null;
  kernel?.onlyKeys(['release', 'cmdline']);
  const iommuRaw = f.obj.iommu;
  let iommuGroupType: string | null = 'DMA-FQ';
  if (iommuRaw === false) iommuGroupType = null;
  else if (iommuRaw !== undefined) {
    const io = f.child('iommu');
    io.onlyKeys(['groupType']);
    iommuGroupType = io.oneOf('groupType', ['DMA', 'DMA-FQ', 'identity', 'blocked'], 'DMA-FQ');
  }

  const vfioLoaded = f.has('vfio') ? readVfio(f.child('vfio')) : true;
  const cmdline = kernel ? kernel.string('cmdline', 'quiet') : 'quiet';
  const vfioIds = vfioIdsOf(cmdline, kernel ?? f);
  // A host booted with vfio-pci ids= loads vfio-pci from the initramfs, before the host's drivers
  // (as the guides set it up): it registers first, and so it wins drivers_probe for those ids.
  const scenarioModules = f.objects('modules').map(readModule);
  const ordered = vfioIds.length > 0 ? [...standardModules(vfioLoaded), ...scenarioModules] : [...scenarioModules, ...standardModules(vfioLoaded)];
  const modules = ordered.filter(
    (m, i, all) => all.findIndex((o) => o.name === m.name) === i,
  );
  const devices = f.objects('devices').map((d) => readDevice(d, iommuGroupType !== null));
  const fw = f.has('firmwareFramebuffer') ? f.child('firmwareFramebuffer') : null;
  fw?.onlyKeys(['kind', 'state']);
  const kind = fw ? fw.oneOf('kind', FB_KINDS) : 'none';
  const state = fw ? fw.oneOf('state', FB_STATES, kind === 'none' ? 'removed' : 'bound-with-fb') : 'removed';
  if (kind === 'none' && state !== 'removed') fw?.fail('state', 'must be "removed" (or left out) when kind is "none"');

  const consoles = f.has('consoles') ? f.child('consoles') : null;
  consoles?.onlyKeys(['fbcon', 'vtconsoles']);
  const vtconsoles = consoles
    ? consoles.list('vtconsoles').map((v, i) => {
        if (v !== null && (typeof v !== 'string' || v === '')) {
          consoles.fail(`vtconsoles[${i}]`, `must be a console name or null (a free number), got ${show(v)}`);
        }
        return v as string | null;
      })
    : ['(S) dummy device'];
  const dm = f.obj.displayManager;
  let displayManager: Scenario['displayManager'] = null;
  if (dm !== undefined && dm !== null) {
    const d = f.child('displayManager');
    d.onlyKeys(['unit', 'name']);
    displayManager = { unit: d.string('unit'), name: d.string('name') };
  }

  const scenario: Scenario = {
    name,
    description: f.string('description'),
    kernel: {
      release: kernel ? kernel.string('release', '6.1.0-sim') : '6.1.0-sim',
      cmdline,
    },
    vfioIds,
    cpu: readCpu(f.child('cpu')),
    iommuGroupType,
    modules,
    devices,
    firmwareFramebuffer: { kind, state },
    fbcon: consoles ? consoles.bool('fbcon', vtconsoles.includes(FBCON_NAME)) : false,
    vtconsoles,
    processes: f.objects('processes').map(readProcess),
    displayManager,
    irqs: f.ints('irqs', 0, 4095),
  };
  checkAgreement(scenario, f);
  return scenario;
}

function readVfio(v: Fields): boolean {
  v.onlyKeys(['loaded']);
  return v.bool('loaded', true);
}

function readModule(m: Fields): ModuleSpec {
  m.onlyKeys(['name', 'loaded', 'builtin', 'deps', 'softdepsPost', 'refcnt', 'drivers']);
  const name = m.string('name');
  if (!MODULE_NAME.test(name)) m.fail('name', `must be a kernel module name, got ${show(name)}`);
  const builtin = m.bool('builtin', false);
  return {
    name: name.replace(/-/g, '_'),
    builtin,
    loaded: builtin || m.bool('loaded', true),
    deps: m.strings('deps').map((d) => d.replace(/-/g, '_')),
    softdepsPost: m.strings('softdepsPost').map((d) => d.replace(/-/g, '_')),
    refcnt: m.int('refcnt', 0, 1000, 0),
    drivers: m.objects('drivers').map(readDriver),
  };
}

function readDriver(d: Fields): DriverSpec {
  d.onlyKeys(['name', 'ids', 'probeDelayMs', 'drm']);
  const name = d.string('name');
  if (!NAME.test(name)) d.fail('name', `must be a driver name, got ${show(name)}`);
  const ids = d.strings('ids');
  ids.forEach((id, i) => {
    if (!parseIdPattern(id)) d.fail(`ids[${i}]`, `must look like "10de:1f08", "10de:*" or "*:*:0403", got ${show(id)}`);
  });
  let drm: DriverSpec['drm'] = null;
  if (d.has('drm')) {
    const r = d.child('drm');
    r.onlyKeys(['fbdev', 'fbName', 'renderNode', 'removesFirmwareFb']);
    const fbdev = r.bool('fbdev', true);
    drm = {
      fbdev,
      fbName: r.string('fbName', `${name}drmfb`),
      renderNode: r.bool('renderNode', true),
      removesFirmwareFb: r.bool('removesFirmwareFb', fbdev),
    };
  }
  return { name, ids, probeDelayMs: d.int('probeDelayMs', 0, 60_000, 0), drm };
}

/** vfio-pci's ids= on the kernel command line (vfio-pci.ids= or vfio_pci.ids=): "vendor:device" each. */
function vfioIdsOf(cmdline: string, f: Fields): string[] {
  const ids: string[] = [];
  for (const arg of cmdline.split(/\s+/)) {
    const m = /^vfio[-_]pci\.ids=(.*)$/.exec(arg);
    if (!m) continue;
    for (const id of m[1].split(',').filter((x) => x !== '')) {
      if (!/^[0-9a-f]{4}:[0-9a-f]{4}$/.test(id)) f.fail('cmdline', `names vfio-pci id ${show(id)}; write vendor:device in lower-case hex, e.g. vfio-pci.ids=10de:1f08,10de:10f9`);
      ids.push(id);
    }
  }
  return ids;
}

const NETDEV = /^[A-Za-z0-9_.-]{1,15}$/;
const DISK = /^[a-z][a-z0-9]{0,31}$/;

function readDevice(d: Fields, hasIommu: boolean): PciDeviceSpec {
  d.onlyKeys([
    'address', 'vendor', 'device', 'subsystemVendor', 'subsystemDevice', 'class', 'revision',
    'parent', 'iommuGroup', 'driver', 'driverOverride', 'netdev', 'disk', 'bootVga', 'irq', 'numaNode', 'label', 'reset',
  ]);
  const reset = d.has('reset') ? d.child('reset') : null;
  reset?.onlyKeys(['flr', 'pm', 'busReset']);
  const address = d.string('address');
  if (!isPciAddress(address) || parsePciAddress(address) !== address) {
    d.fail('address', `must be a full lower-case PCI address like 0000:01:00.0, got ${show(address)}`);
  }
  const parent = d.obj.parent;
  if (parent !== undefined && parent !== null && (typeof parent !== 'string' || !isPciAddress(parent))) {
    d.fail('parent', `must be the PCI address of the upstream bridge or null, got ${show(parent)}`);
  }
  const cls = d.hex('class', 6);
  const bootVga = d.bool('bootVga', false);
  if (bootVga && !cls.startsWith('0300')) d.fail('bootVga', `can only be true for a VGA device (class 0300xx), not class ${cls}`);
  const driver = d.obj.driver;
  if (driver !== undefined && driver !== null && (typeof driver !== 'string' || !NAME.test(driver))) {
    d.fail('driver', `must be a driver name or null, got ${show(driver)}`);
  }
  if (hasIommu && !d.has('iommuGroup')) d.fail('iommuGroup', 'is required while the scenario has an IOMMU');
  const optionalName = (key: string, pattern: RegExp, what: string): string | null => {
    const v = d.obj[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || !pattern.test(v)) d.fail(key, `must be ${what} or null, got ${show(v)}`);
    return v;
  };
  const driverOverride = optionalName('driverOverride', NAME, 'a driver name');
  const netdev = optionalName('netdev', NETDEV, 'a network interface name (at most 15 characters)');
  const disk = optionalName('disk', DISK, 'a disk name like nvme0n1 or sda');
  if (netdev !== null && !cls.startsWith('02')) d.fail('netdev', `is for network functions (class 02xxxx), not class ${cls}`);
  if (disk !== null && !cls.startsWith('01')) d.fail('disk', `is for storage functions (class 01xxxx), not class ${cls}`);
  return {
    address,
    vendor: d.hex('vendor', 4),
    device: d.hex('device', 4),
    subsystemVendor: d.hex('subsystemVendor', 4, '0000'),
    subsystemDevice: d.hex('subsystemDevice', 4, '0000'),
    class: cls,
    revision: d.hex('revision', 2, '00'),
    parent: typeof parent === 'string' ? parsePciAddress(parent) : null,
    iommuGroup: hasIommu ? d.int('iommuGroup', 0, 4095) : null,
    driver: typeof driver === 'string' ? driver : null,
    driverOverride,
    netdev,
    disk,
    bootVga,
    irq: d.int('irq', 0, 4095, 16),
    numaNode: d.int('numaNode', -1, 63, -1),
    label: d.has('label') ? d.string('label') : '',
    reset: {
      flr: reset ? reset.bool('flr', false) : false,
      pm: reset ? reset.bool('pm', true) : true,
      busReset: reset ? reset.bool('busReset', true) : true,
    },
  };
}

function readCpu(c: Fields): CpuSpec {
  c.onlyKeys([
    'vendor', 'model', 'sockets', 'coresPerSocket', 'threadsPerCore', 'hybrid', 'siblings', 'offline',
    'governor', 'governors',
  ]);
  let hybrid: CpuSpec['hybrid'] = null;
  if (c.has('hybrid')) {
    const h = c.child('hybrid');
    h.onlyKeys(['performanceCores', 'efficiencyCores']);
    hybrid = { performanceCores: h.int('performanceCores', 1, 256), efficiencyCores: h.int('efficiencyCores', 1, 256) };
  }
  const governors = c.has('governors') ? c.strings('governors') : ['performance', 'powersave', 'schedutil'];
  const governor = c.string('governor', governors.includes('schedutil') ? 'schedutil' : governors[0]);
  if (!governors.includes(governor)) c.fail('governor', `must be one of governors (${governors.join(', ')}), got ${show(governor)}`);
  const cpu: CpuSpec = {
    vendor: c.oneOf('vendor', ['intel', 'amd'] as const),
    model: c.string('model'),
    sockets: c.int('sockets', 1, 8, 1),
    coresPerSocket: hybrid ? hybrid.performanceCores + hybrid.efficiencyCores : c.int('coresPerSocket', 1, 256),
    threadsPerCore: c.int('threadsPerCore', 1, 2, 2) as 1 | 2,
    hybrid,
    siblings: c.oneOf('siblings', ['spread', 'adjacent'] as const, hybrid ? 'adjacent' : 'spread'),
    offline: c.ints('offline', 1, 4095),
    governor,
    governors,
  };
  return cpu;
}

function readProcess(p: Fields): ProcessSpec {
  p.onlyKeys(['pid', 'comm', 'cmdline', 'fds', 'threads']);
  const pid = p.int('pid', 1, 4_194_304);
  return {
    pid,
    comm: p.string('comm'),
    cmdline: p.has('cmdline') ? p.strings('cmdline') : [p.string('comm')],
    fds: p.strings('fds').map((fd, i) => {
      if (!fd.startsWith('/')) p.fail(`fds[${i}]`, `must be an absolute path like /dev/dri/card0, got ${show(fd)}`);
      return fd;
    }),
    threads: p.objects('threads').map((t) => {
      t.onlyKeys(['tid', 'comm']);
      return { tid: t.int('tid', 2, 4_194_304), comm: t.string('comm') };
    }),
  };
}

/** The modules every simulated kernel has; a scenario may declare its own with the same name instead. */
function standardModules(vfioLoaded: boolean): ModuleSpec[] {
  const mod = (name: string, deps: string[], drivers: DriverSpec[] = [], softdepsPost: string[] = []): ModuleSpec => ({
    name, loaded: vfioLoaded, builtin: false, deps, softdepsPost, refcnt: 0, drivers,
  });
  return [
    mod('vfio', [], [], ['vfio_iommu_type1']),
    mod('vfio_iommu_type1', ['vfio']),
    mod('vfio_pci_core', ['vfio']),
    // vfio-pci has no id table of its own: it binds only through driver_override or new_id.
    mod('vfio_pci', ['vfio_pci_core'], [{ name: 'vfio-pci', ids: [], probeDelayMs: 0, drm: null }]),
    {
      name: 'pcieport', loaded: true, builtin: true, deps: [], softdepsPost: [], refcnt: 0,
      drivers: [{ name: 'pcieport', ids: ['*:*:0604'], probeDelayMs: 0, drm: null }],
    },
  ];
}

/** Cross-field rules: what the kernel could never show is refused with the field that breaks it. */
function checkAgreement(s: Scenario, f: Fields): void {
  const moduleNames = new Set(s.modules.map((m) => m.name));
  const driverNames = new Map<string, ModuleSpec>();
  s.modules.forEach((m, i) => {
    for (const dep of [...m.deps, ...m.softdepsPost]) {
      if (!moduleNames.has(dep)) f.fail(`modules[${i}].deps`, `names module ${show(dep)}, which the scenario does not declare`);
      const target = s.modules.find((o) => o.name === dep);
      if (m.loaded && target && !target.loaded && m.deps.includes(dep)) {
        f.fail(`modules[${i}].loaded`, `is true but its dependency ${dep} is not loaded`);
      }
    }
    for (const d of m.drivers) {
      if (driverNames.has(d.name)) f.fail(`modules[${i}].drivers`, `declares driver ${d.name} already provided by module ${driverNames.get(d.name)?.name}`);
      driverNames.set(d.name, m);
    }
  });

  const byAddress = new Map<string, PciDeviceSpec>();
  s.devices.forEach((d, i) => {
    if (byAddress.has(d.address)) f.fail(`devices[${i}].address`, `repeats ${d.address}`);
    byAddress.set(d.address, d);
  });
  if (s.devices.filter((d) => d.bootVga).length > 1) f.fail('devices', 'mark at most one device bootVga');
  s.devices.forEach((d, i) => {
    if (d.parent !== null) {
      const parent = byAddress.get(d.parent);
      if (!parent) f.fail(`devices[${i}].parent`, `names ${d.parent}, which is not among the devices`);
      if (!parent.class.startsWith('0604')) f.fail(`devices[${i}].parent`, `names ${d.parent}, which is not a PCI bridge (class 0604xx)`);
    }
    if (d.driver !== null) {
      const m = driverNames.get(d.driver);
      if (!m) f.fail(`devices[${i}].driver`, `names ${d.driver}, which no module in the scenario provides`);
      if (!m.loaded) f.fail(`devices[${i}].driver`, `names ${d.driver}, whose module ${m.name} is not loaded`);
    }
  });
  for (const d of s.devices) ancestorsOf(d, byAddress, f);

  const bootVga = s.devices.find((d) => d.bootVga);
  const fw = s.firmwareFramebuffer;
  if (fw.kind !== 'none' && !bootVga) f.fail('firmwareFramebuffer', 'needs a device marked bootVga (the firmware scans out of it)');
  const claimer = bootVga?.driver ?? null;
  const claims = claimer === VFIO_PCI || driverNames.get(claimer ?? '')?.drivers.find((x) => x.name === claimer)?.drm?.removesFirmwareFb;
  if (fw.state !== 'removed' && claimer !== null && claims) {
    f.fail(
      'firmwareFramebuffer.state',
      `is "${fw.state}", but ${claimer} bound to the boot VGA ${bootVga?.address} at boot, and a 6.x kernel then removes ${fw.kind}.0 ` +
        '(sysfb is disabled when a driver claims the boot display): use "removed", or set drm.removesFirmwareFb to false ' +
        'for a driver that leaves firmware framebuffers alone (the proprietary nvidia driver)',
    );
  }
  // vfio-pci has no id table of its own: at boot it binds a function only by driver_override or ids=.
  s.devices.forEach((d, i) => {
    if (d.driver !== VFIO_PCI || d.driverOverride === VFIO_PCI || s.vfioIds.includes(`${d.vendor}:${d.device}`)) return;
    f.fail(`devices[${i}].driver`, `is vfio-pci, which binds at boot only a function whose driverOverride is vfio-pci or whose ids are in vfio-pci.ids= on kernel.cmdline`);
  });
  const fbAtBoot =
    fw.state === 'bound-with-fb' ||
    s.devices.some((d) => d.driver !== null && driverNames.get(d.driver)?.drivers.find((x) => x.name === d.driver)?.drm?.fbdev);
  if (s.vtconsoles.includes(FBCON_NAME) && !(s.fbcon && fbAtBoot)) {
    f.fail('consoles.vtconsoles', `lists "${FBCON_NAME}" but fbcon has no framebuffer at boot (or consoles.fbcon is false)`);
  }
  if (s.fbcon && fbAtBoot && !s.vtconsoles.includes(FBCON_NAME)) {
    f.fail('consoles.vtconsoles', `must list "${FBCON_NAME}": fbcon takes a vtconsole as soon as a framebuffer exists`);
  }
  if (!s.vtconsoles.some((v) => v !== null && v !== FBCON_NAME)) {
    f.fail('consoles.vtconsoles', 'must list a console besides fbcon (the kernel always has one, e.g. "(S) dummy device")');
  }
  const cpus = totalCpus(s.cpu);
  s.cpu.offline.forEach((c, i) => {
    if (c >= cpus) f.fail(`cpu.offline[${i}]`, `is cpu${c}, but the host has cpus 0-${cpus - 1}`);
  });
  const pids = new Set<number>();
  s.processes.forEach((p, i) => {
    if (pids.has(p.pid)) f.fail(`processes[${i}].pid`, `repeats ${p.pid}`);
    pids.add(p.pid);
  });
}

function ancestorsOf(d: PciDeviceSpec, byAddress: Map<string, PciDeviceSpec>, f: Fields): void {
  const seen = new Set<string>([d.address]);
  for (let p = d.parent; p !== null; p = byAddress.get(p)?.parent ?? null) {
    if (seen.has(p)) f.fail('devices', `have a parent loop through ${p}`);
    seen.add(p);
  }
}

export function totalCpus(cpu: CpuSpec): number {
  if (cpu.hybrid) return cpu.sockets * (cpu.hybrid.performanceCores * 2 + cpu.hybrid.efficiencyCores);
  return cpu.sockets * cpu.coresPerSocket * cpu.threadsPerCore;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
