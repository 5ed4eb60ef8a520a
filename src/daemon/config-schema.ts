// The config file's schema: every key, its default, what it accepts and what it is for. convict
// reads it; docs/config.md is generated from it; the per-VM keys are one schema used three times
// (the defaults, each `vms.<name>` section and a domain's <metadata>), so they can never disagree.

import type { Schema } from 'convict';

export const DEFAULT_CONFIG_PATH = '/etc/gpu-hookd/config.json';
/** Debian's prometheus-node-exporter reads its textfile collector here. */
export const DEFAULT_METRICS_DIR = '/var/lib/prometheus/node-exporter';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Holders = 'refuse' | 'terminate';
export type Pin = 'none' | 'auto';
export type ResetRiskPolicy = 'warn' | 'refuse';

/** How gpu-hookd treats one VM; resolved by vmSettings() from metadata, the VM's section and the defaults. */
export interface VmSettings {
  displayManagerUnit: string;
  endSessions: boolean;
  unloadModules: boolean;
  holders: Holders;
  isolateCpus: boolean;
  pin: Pin;
  governor: boolean;
  irqAffinity: boolean;
  housekeepingCpus: string;
  resetRisk: ResetRiskPolicy;
}

export interface Timeouts {
  unbindMs: number;
  probeMs: number;
  devVfioMs: number;
  displayManagerStopMs: number;
  sessionEndMs: number;
  hookCallMs: number;
}

/** The file's settings after validation, with every default filled in. */
export interface DaemonConfig {
  host: { root: string };
  bus: { address: string };
  state: { dir: string };
  metrics: { textfileDir: string };
  access: { group: string };
  log: { level: LogLevel };
  timeouts: Timeouts;
  giveBack: { resets: number };
  defaults: VmSettings;
  /** Per-VM sections keyed by libvirt domain name; only the keys a section sets. */
  vms: Record<string, Partial<VmSettings>>;
}

/** One setting: convict's fields plus `accepts`, the human form of the format, for the docs. */
export interface Setting<T> {
  doc: string;
  default: T;
  accepts: string;
  /** Throws an Error whose message completes "<key> ..." (e.g. "must be a positive integer"). */
  format: (value: unknown) => void;
}

const MAX_TIMEOUT_MS = 3_600_000;

function milliseconds(doc: string, fallback: number): Setting<number> {
  return {
    doc,
    default: fallback,
    accepts: `milliseconds, 1 to ${MAX_TIMEOUT_MS}`,
    format: (value) => {
      if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw new Error('must be a positive integer');
      if (value > MAX_TIMEOUT_MS) throw new Error(`must be at most ${MAX_TIMEOUT_MS} (one hour)`);
    },
  };
}

function count(doc: string, fallback: number, max: number): Setting<number> {
  return {
    doc,
    default: fallback,
    accepts: `a whole number, 0 to ${max}`,
    format: (value) => {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) throw new Error(`must be a whole number from 0 to ${max}`);
    },
  };
}

function flag(doc: string, fallback = false): Setting<boolean> {
  return {
    doc,
    default: fallback,
    accepts: 'true or false',
    format: (value) => {
      if (typeof value !== 'boolean') throw new Error('must be true or false');
    },
  };
}

function oneOf<T extends string>(values: readonly T[], doc: string, fallback: T): Setting<T> {
  const listed = values.map((v) => JSON.stringify(v)).join(', ');
  return {
    doc,
    default: fallback,
    accepts: `one of ${listed}`,
    format: (value) => {
      if (!values.includes(value as T)) throw new Error(`must be one of ${listed}`);
    },
  };
}

function matching(pattern: RegExp, requirement: string, doc: string, fallback: string): Setting<string> {
  return {
    doc,
    default: fallback,
    accepts: requirement.replace(/^must be /, ''),
    format: (value) => {
      if (typeof value !== 'string' || !pattern.test(value)) throw new Error(requirement);
    },
  };
}

const ABSOLUTE_PATH = /^\/[^\0]*$/;
const ABSOLUTE_PATH_OR_NONE = /^$|^\/[^\0]*$/;
// A D-Bus address is "transport:key=value,...", possibly several separated by ";".
const BUS_ADDRESS = /^$|^[a-z-]+:([a-z_]+=[^,;]*(,[a-z_]+=[^,;]*)*)?(;[a-z-]+:([a-z_]+=[^,;]*(,[a-z_]+=[^,;]*)*)?)*$/;
const GROUP_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const SERVICE_UNIT = /^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.service$/;
const CPU_LIST = /^$|^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** The per-VM keys: the `defaults` section, every `vms.<name>` section and a domain's <metadata>. */
export const VM_SETTINGS_SCHEMA: { [K in keyof VmSettings]: Setting<VmSettings[K]> } = {
  displayManagerUnit: matching(
    SERVICE_UNIT,
    'must be a systemd service unit name such as "display-manager.service"',
    'The systemd unit of the graphical login. When the GPU to detach is the one the host draws its desktop on, ' +
      'gpu-hookd stops this unit first and starts it again on release.',
    'display-manager.service',
  ),
  endSessions: flag(
    'Also end the graphical logind sessions on the GPU (logging their users out) when stopping the display ' +
      'manager is not enough to free it. Off: gpu-hookd refuses and names the sessions instead.',
  ),
  unloadModules: flag(
    'Unload the host GPU driver modules (nvidia, amdgpu, ...) once no device uses them, and load them back on ' +
      'release. vfio modules are never unloaded.',
  ),
  holders: oneOf(
    ['refuse', 'terminate'] as const,
    'What to do with processes that still hold the GPU open (/dev/dri, /dev/nvidia*) at detach: "refuse" fails ' +
      'the VM start and names them; "terminate" asks them to exit (SIGTERM) and waits until they have.',
    'refuse',
  ),
  isolateCpus: flag(
    'While the VM runs, keep host tasks off the CPUs its vCPUs run on, and give the CPUs back on release.',
  ),
  pin: oneOf(
    ['none', 'auto'] as const,
    'vCPU pinning: "none" keeps the domain XML\'s own cputune; "auto" pins each vCPU to a host CPU of its own, ' +
      'leaving the housekeeping CPUs to the host.',
    'none',
  ),
  governor: flag('Set the cpufreq governor of the VM\'s CPUs to "performance" while it runs, and restore it on release.'),
  irqAffinity: flag('Steer hardware interrupts away from the VM\'s CPUs while it runs, and restore their affinity on release.'),
  housekeepingCpus: matching(
    CPU_LIST,
    'must be a CPU list such as "0-1,6-7", or "" to choose automatically',
    'CPUs the host keeps for itself when isolating or pinning, as a kernel CPU list ("0-1,6-7"). "" lets ' +
      'gpu-hookd choose.',
    '',
  ),
  resetRisk: oneOf(
    ['warn', 'refuse'] as const,
    'What the VM\'s start does with a GPU known to come back broken after a VM (an AMD card vendor-reset exists ' +
      'for, without it in place; a GPU the kernel cannot reset at all; gpu-hookctl doctor names them): "warn" ' +
      'writes a warning with the fix to the journal and starts the VM; "refuse" fails the start before any change, ' +
      'naming the fix.',
    'warn',
  ),
};

/** The whole file except `vms`, which convict cannot describe (a map keyed by domain name). */
export const CONFIG_SCHEMA = {
  host: {
    root: matching(
      ABSOLUTE_PATH,
      'must be an absolute path',
      'The directory standing for "/" when reading and writing /sys, /proc and /dev. Only the simulator, the ' +
        'tests and the lab change it.',
      '/',
    ),
  },
  bus: {
    address: matching(
      BUS_ADDRESS,
      'must be empty (the system bus) or a D-Bus address such as "unix:path=/run/dbus/system_bus_socket"',
      'The D-Bus bus on which gpu-hookd owns org.gpuhookd1. "" is the system bus; tests and the demo give a ' +
        'private bus address.',
      '',
    ),
  },
  state: {
    dir: matching(
      ABSOLUTE_PATH,
      'must be an absolute path',
      'Where gpu-hookd keeps its state and the transition journal that lets it finish or undo a step after a crash.',
      '/var/lib/gpu-hookd',
    ),
  },
  metrics: {
    textfileDir: matching(
      ABSOLUTE_PATH_OR_NONE,
      'must be an absolute path, or "" for no metrics',
      'The directory of node_exporter\'s textfile collector (its --collector.textfile.directory), where gpu-hookd ' +
        'keeps gpu-hookd.prom current: written at start and after every change, replaced whole, removed at a clean ' +
        'stop (docs/metrics.md). The default is the Debian package\'s; while it does not exist (node_exporter not ' +
        'installed) gpu-hookd says so at info level, another directory that does not exist costs one warning. Another ' +
        'directory also needs a ReadWritePaths= drop-in for the unit. "" writes no metrics.',
      DEFAULT_METRICS_DIR,
    ),
  },
  access: {
    group: matching(
      GROUP_NAME,
      'must be a Unix group name (lower-case letters, digits, "_" and "-", at most 32 characters)',
      'Members of this group may call the mutating D-Bus methods (detach, attach, reload); root always may. ' +
        'The D-Bus policy file must name the same group.',
      'gpuhookd',
    ),
  },
  log: {
    level: oneOf(LOG_LEVELS, 'The least severe log level written. Changeable at runtime over D-Bus.', 'info'),
  },
  timeouts: {
    unbindMs: milliseconds(
      'How long one sysfs write (unbind, bind, driver_override, remove) may take. A driver that does not let go of ' +
        'a device blocks the write in the kernel; after this long gpu-hookd gives up and undoes the transition.',
      10_000,
    ),
    probeMs: milliseconds('How long to wait for a driver to bind a device after a probe request.', 5_000),
    devVfioMs: milliseconds('How long to wait for /dev/vfio/N to appear once IOMMU group N is on vfio-pci.', 5_000),
    displayManagerStopMs: milliseconds(
      'How long each wait of a single-GPU handover on the desktop may take: a systemd job on a unit it stops or ' +
        'starts (the display manager stopping and letting go of the GPU, its start job when the GPU comes back, ' +
        'units such as nvidia-persistenced), a graphical session ending after TerminateSession, and the processes ' +
        'holding the GPU exiting after SIGTERM.',
      20_000,
    ),
    sessionEndMs: milliseconds(
      'How long, once the display manager has stopped, a single-GPU handover waits for logind to end the ' +
        'sessions that were running on the GPU\'s seat (logind ends a display manager\'s sessions a moment after ' +
        'its stop job) before it names a session still open. Waited for only while a process still holds the GPU; ' +
        'the wait ends at once when the sessions have ended or the GPU is free.',
      3_000,
    ),
    hookCallMs: milliseconds(
      'How long the libvirt hook waits for the daemon\'s answer before it fails the VM\'s start.',
      120_000,
    ),
  },
  giveBack: {
    resets: count(
      'How many times a GPU is reset and probed again when its host driver does not take it back after a VM (no ' +
        'bind within timeouts.probeMs, or bound without its DRM device): each try puts the card back on vfio-pci, ' +
        'resets it (its own reset, else its bus when every function on it is the GPU\'s) and gives it back again. ' +
        '0: no second chance.',
      2,
      5,
    ),
  },
  defaults: VM_SETTINGS_SCHEMA,
};

/** The `vms` key, documented like the others and validated entry by entry with VM_SETTINGS_SCHEMA. */
export const VMS_DOC =
  'Per-VM sections keyed by libvirt domain name, each with any of the keys of `defaults`. A VM\'s section ' +
  'overrides `defaults`; the domain\'s own metadata overrides both.';

/** Settings that the environment and the command line may override (environment < command line). */
export const OVERRIDES = [
  { key: 'host.root', env: 'GPU_HOOKD_ROOT', flag: '--root' },
  { key: 'bus.address', env: 'GPU_HOOKD_BUS', flag: '--bus' },
  { key: 'state.dir', env: 'GPU_HOOKD_STATE_DIR', flag: '--state-dir' },
  { key: 'metrics.textfileDir', env: 'GPU_HOOKD_METRICS_DIR', flag: '--metrics-dir' },
] as const;

export type OverridableKey = (typeof OVERRIDES)[number]['key'];

/** convict's view of CONFIG_SCHEMA (extra `accepts` fields are ignored by convict). */
export const convictSchema = CONFIG_SCHEMA as unknown as Schema<Omit<DaemonConfig, 'vms'>>;

export function isSetting(node: unknown): node is Setting<unknown> {
  return typeof node === 'object' && node !== null && 'default' in node && 'format' in node;
}
