// The emulator's memory. The tree shows the kernel's state; this file keeps what the tree cannot
// say by itself (registration order, dynamic ids, probes in flight, console numbering). It lives in
// the tree's marker directory so that every process working on one simulated host (the test, the
// daemon under test, a restarted daemon) sees the same kernel. Writers take a lock file around a
// read-modify-write; every change is synchronous inside it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DrmMinors } from './pci-binding';
import { PciIdEntry } from './pci-id-match';
import { Scenario } from './scenario';
import type { WedgeKind } from './reset-model';
import { beginUnit, endUnit, rollBackLeftUnit } from './undo-log';

export const MARKER_DIR = '.gpu-hookd-sim';

export interface PendingProbe {
  address: string;
  driver: string;
  /** Epoch ms when the probe completes. */
  dueAt: number;
}

export interface Framebuffer {
  index: number;
  name: string;
  /** A PCI address or a platform device name ("efi-framebuffer.0"). */
  owner: string;
}

export interface Vtconsole {
  index: number;
  name: string;
  bound: boolean;
}

/** A process holding an IOMMU group open (a VM's QEMU): proc/<pid>/fd/<fd> links to /dev/vfio/<group>. */
export interface GroupHolder {
  pid: number;
  comm: string;
  fd: number;
  /** holdGroup made the process up (it exits when it lets go); false for a process already there. */
  ownProcess: boolean;
}

export interface SimState {
  version: 1;
  zeroDelays: boolean;
  /** Bound driver per PCI address (absent: unbound). */
  drivers: Record<string, string>;
  /** driver_override per PCI address (absent: "(null)"). */
  overrides: Record<string, string>;
  /** Loaded modules in load order (built-ins included). */
  modules: string[];
  /** Registered PCI drivers in registration order: the order drivers_probe tries them. */
  pciDrivers: string[];
  dynIds: Record<string, PciIdEntry[]>;
  pending: PendingProbe[];
  framebuffers: Framebuffer[];
  vtconsoles: Vtconsole[];
  /**
   * The framebuffer (fb number) fbcon draws on; null while fbcon has no vtconsole, or after that
   * framebuffer went while others stayed (fbcon is then registered but unbound until one registers).
   */
  fbconFramebuffer: number | null;
  /** fbcon's primary framebuffer (the boot VGA's), null until it registers and after it went. */
  fbconPrimary?: number | null;
  /** The framebuffer fbcon maps its consoles to when it registers (con2fb_map_boot): 0, or the primary's. */
  fbconBootMap?: number;
  firmwareFb: { present: boolean; bound: boolean } | null;
  /** DRM minors (card, render) per PCI address of a bound DRM driver. */
  drmMinors: Record<string, DrmMinors>;
  offlineCpus: number[];
  /** IOMMU groups held open by a process (a VM's QEMU). */
  heldGroups: Record<string, GroupHolder>;
  /**
   * PCI addresses whose unbind from vfio-pci waits for their group's holder: the driver links are
   * gone, `drivers` still names vfio-pci, and writes that need the device's lock wait.
   */
  unbindsWaiting: string[];
  /** reset_method as written, per PCI address (absent: the kernel's default methods). */
  resetMethods: Record<string, string[]>;
  /** Functions a VM left in a state only a reset clears (reset-model.ts), per PCI address. */
  wedged: Record<string, WedgeKind>;
}

export class SimPaths {
  readonly marker: string;
  readonly scenario: string;
  readonly state: string;
  readonly faults: string;
  readonly lock: string;
  /** Exists while probes are in flight: lets readers settle them with one stat. */
  readonly pendingFlag: string;
  /** The kernel operation in progress, for the lock's next taker to undo if its process died (undo-log.ts). */
  readonly undoLog: string;

  constructor(readonly root: string) {
    this.marker = path.join(root, MARKER_DIR);
    this.scenario = path.join(this.marker, 'scenario.json');
    this.state = path.join(this.marker, 'state.json');
    this.faults = path.join(this.marker, 'faults.json');
    this.lock = path.join(this.marker, 'lock');
    this.pendingFlag = path.join(this.marker, 'probes-pending');
    this.undoLog = path.join(this.marker, 'undo.log');
  }
}

export function readScenarioOf(paths: SimPaths): Scenario {
  return JSON.parse(fs.readFileSync(paths.scenario, 'utf8')) as Scenario;
}

export function readState(paths: SimPaths): SimState {
  return JSON.parse(fs.readFileSync(paths.state, 'utf8')) as SimState;
}

/**
 * Saves the state in place with one write at offset 0, padded with spaces to the old length: a
 * process killed at any point leaves either the old or the new JSON (whitespace is ignored), and
 * it costs far less than a temp file and a rename on every emulated write.
 */
export function writeState(paths: SimPaths, state: SimState, hadPending: boolean): void {
  writeStateText(paths, JSON.stringify(state));
  if (state.pending.length > 0 && !hadPending) fs.writeFileSync(paths.pendingFlag, '');
  if (state.pending.length === 0 && hadPending) fs.rmSync(paths.pendingFlag, { force: true });
}

function writeStateText(paths: SimPaths, text: string): void {
  const fd = fs.openSync(paths.state, fs.constants.O_RDWR | fs.constants.O_CREAT);
  try {
    fs.writeSync(fd, text.padEnd(fs.fstatSync(fd).size, ' '), 0);
  } finally {
    fs.closeSync(fd);
  }
}

/** Puts back the state and tree of a kernel operation whose process died in it (the caller holds the lock). */
function rollBackLeftOperation(paths: SimPaths): void {
  const state = rollBackLeftUnit(paths.root, paths.undoLog);
  if (state === undefined) return;
  writeStateText(paths, state.trimEnd());
  const pending = (JSON.parse(state) as SimState).pending.length > 0;
  if (pending) fs.writeFileSync(paths.pendingFlag, '');
  else fs.rmSync(paths.pendingFlag, { force: true });
}

/** Opening a host: an operation a dead process left half done is undone before anything reads the tree. */
export function recoverSimHost(paths: SimPaths): void {
  if (fs.existsSync(paths.undoLog)) withLock(paths, () => undefined);
}

const LOCK_WAIT_MS = 10_000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs `work` holding the host's lock file (created exclusively, holding our pid) as one atomic unit
 * (undo-log.ts; `atomic: false` for work that is not a kernel operation, such as a reboot). A lock
 * left by a process that died (SIGKILL mid-write) is taken over, and its unit undone first.
 */
export function withLock<T>(paths: SimPaths, work: () => T, options: { atomic?: boolean } = {}): T {
  const started = Date.now();
  for (;;) {
    try {
      fs.writeFileSync(paths.lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (lockOwnerIsGone(paths)) {
        fs.rmSync(paths.lock, { force: true });
        continue;
      }
      if (Date.now() - started > LOCK_WAIT_MS) {
        throw new Error(`simulated host ${paths.root} stayed locked for ${LOCK_WAIT_MS} ms by ${paths.lock}: remove it if no process uses the host`);
      }
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
  try {
    rollBackLeftOperation(paths);
    if (options.atomic === false) return work();
    beginUnit(paths.root, paths.undoLog, paths.state);
    try {
      return work();
    } finally {
      endUnit(paths.root);
    }
  } finally {
    fs.unlinkSync(paths.lock);
  }
}

/** A lock whose file is still empty this long after creation lost its owner between open and write. */
const EMPTY_LOCK_STALE_MS = 2000;

function lockOwnerIsGone(paths: SimPaths): boolean {
  let text: string;
  let mtimeMs: number;
  try {
    text = fs.readFileSync(paths.lock, 'utf8');
    mtimeMs = fs.statSync(paths.lock).mtimeMs;
  } catch {
    return false;
  }
  if (text === '') return Date.now() - mtimeMs > EMPTY_LOCK_STALE_MS;
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
