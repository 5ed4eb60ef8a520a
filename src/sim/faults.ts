// Fault injection for the simulated kernel, across processes: rules live in
// <root>/.gpu-hookd-sim/faults.json and are read on every write, so a test can make the daemon it
// started (another process) see EBUSY, a write that blocks, or a driver that will not bind.
// Module loads and unloads match the pseudo path "modprobe" with value "<module>" or "-r <module>".

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_HOLDER, groupsHeldBy, holdGroupAs, releaseHeldGroup } from './held-group-model';
import { KernelContext, ScenarioIndex } from './kernel-context';
import { readScenarioOf, readState, SimPaths, withLock, writeState } from './sim-state';
import { Tree } from './tree';
import type { WedgeKind } from './reset-model';

export const FAULT_ERRNOS = ['EBUSY', 'ENODEV', 'EINVAL', 'EACCES', 'ENOENT', 'EIO'] as const;
export type FaultErrno = (typeof FAULT_ERRNOS)[number];

export type FaultEffect =
  /** The write fails with this errno and changes nothing. */
  | { kind: 'fail'; errno: FaultErrno }
  /** The write does not return (ms absent: never; else it takes effect and returns after ms). */
  | { kind: 'block'; ms?: number }
  /** Probes this write starts (by `driver`, or any) fail: the device stays unbound. */
  | { kind: 'no-bind'; driver?: string }
  /** The write returns as if it took and changes nothing: a kernel that does not follow. */
  | { kind: 'ignore' };

export interface FaultRule {
  /** Root-relative path, exact or a glob ("*" within a path component, "**" across them). */
  path: string;
  /** The written value (one trailing newline ignored), exact or glob; absent matches any value. */
  value?: string;
  effect: FaultEffect;
  /** Fire from the Nth matching write on (1 = the first). */
  nth?: number;
  /** Fire at most this many times; absent: every time from the Nth on. */
  times?: number;
}

interface StoredRule extends FaultRule {
  id: number;
  matched: number;
  fired: number;
}

interface FaultFile {
  nextId: number;
  rules: StoredRule[];
}

export const MODPROBE_PATH = 'modprobe';

/** Adds a rule to the host at `root`; returns its id. */
export function injectFault(root: string, rule: FaultRule): number {
  validateRule(rule);
  const paths = new SimPaths(root);
  requireSimRoot(paths);
  return withLock(paths, () => {
    const file = readFaults(paths);
    const id = file.nextId++;
    file.rules.push({ ...rule, id, matched: 0, fired: 0 });
    fs.writeFileSync(paths.faults, JSON.stringify(file, null, 2));
    return id;
  });
}

export function clearFaults(root: string): void {
  const paths = new SimPaths(root);
  requireSimRoot(paths);
  withLock(paths, () => fs.rmSync(paths.faults, { force: true }));
}

/**
 * How many times each rule matched and fired, by id: lets a test check its fault was reached. Read
 * under the host's lock: a writer in another process rewrites the file in place inside it.
 */
export function faultCounts(root: string): { id: number; matched: number; fired: number }[] {
  const paths = new SimPaths(root);
  requireSimRoot(paths);
  return withLock(paths, () => readFaults(paths)).rules.map(({ id, matched, fired }) => ({ id, matched, fired }));
}

/**
 * A process opens an IOMMU group (a running VM's QEMU): proc/<pid>/fd/<n> links to /dev/vfio/<group>
 * (the scenario's process with that PID, or a new one named `comm`), host drivers refuse its members
 * with EBUSY, and unbinding a member from vfio-pci waits until releaseGroup, then completes.
 */
export function holdGroup(root: string, group: number | string, holder: { pid: number; comm?: string } = DEFAULT_HOLDER): void {
  changeKernel(root, (k) => holdGroupAs(k, String(group), holder));
}

/** The holder lets go (QEMU exits): unbinds that waited complete, leaving their functions with no driver. */
export function releaseGroup(root: string, group: number | string): void {
  changeKernel(root, (k) => releaseHeldGroup(k, String(group)));
}

/** A simulated process exits: its proc entry goes and the groups it held are released, as the kernel closes its files. */
export function exitProcess(k: KernelContext, pid: number): void {
  k.tree.remove(`proc/${pid}`);
  for (const group of groupsHeldBy(k, pid)) releaseHeldGroup(k, group);
}

/** One change to the simulated kernel from outside a write, under the host's lock, as one atomic unit. */
export function changeKernel(root: string, change: (k: KernelContext) => void): void {
  const paths = new SimPaths(path.resolve(root));
  requireSimRoot(paths);
  withLock(paths, () => {
    const state = readState(paths);
    const hadPending = state.pending.length > 0;
    change(new KernelContext(new Tree(paths.root), new ScenarioIndex(readScenarioOf(paths)), state, Date.now()));
    writeState(paths, state, hadPending);
  });
}

/** Called inside the lock for each write: the effects that fire, with counters updated on disk. */
export function takeFaults(paths: SimPaths, rel: string, value: string): FaultEffect[] {
  if (!fs.existsSync(paths.faults)) return [];
  const file = readFaults(paths);
  const written = value.endsWith('\n') ? value.slice(0, -1) : value;
  const effects: FaultEffect[] = [];
  let changed = false;
  for (const r of file.rules) {
    if (!globMatch(r.path, rel, true) || (r.value !== undefined && !globMatch(r.value, written, false))) continue;
    r.matched++;
    changed = true;
    if (r.matched < (r.nth ?? 1) || (r.times !== undefined && r.fired >= r.times)) continue;
    r.fired++;
    effects.push(r.effect);
  }
  if (changed) fs.writeFileSync(paths.faults, JSON.stringify(file, null, 2));
  return effects;
}

function readFaults(paths: SimPaths): FaultFile {
  try {
    return JSON.parse(fs.readFileSync(paths.faults, 'utf8')) as FaultFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { nextId: 1, rules: [] };
    throw e;
  }
}

function requireSimRoot(paths: SimPaths): void {
  if (!fs.existsSync(paths.state)) {
    throw new Error(`${paths.root} is not a simulated host (no ${paths.state}): faults can only be injected into one`);
  }
}

function validateRule(rule: FaultRule): void {
  const bad = (what: string) => {
    throw new Error(`fault rule ${JSON.stringify(rule)}: ${what}`);
  };
  if (typeof rule.path !== 'string' || rule.path === '' || rule.path.startsWith('/')) bad('path must be a root-relative path such as "sys/bus/pci/drivers_probe"');
  const e = rule.effect;
  if (e?.kind === 'fail' && !FAULT_ERRNOS.includes(e.errno)) bad(`errno must be one of ${FAULT_ERRNOS.join(', ')}`);
  if (e?.kind === 'block' && e.ms !== undefined && !(Number.isFinite(e.ms) && e.ms >= 0)) bad('block ms must be a non-negative number');
  if (!e || !['fail', 'block', 'no-bind', 'ignore'].includes(e.kind)) bad('effect.kind must be "fail", "block", "no-bind" or "ignore"');
  if (rule.nth !== undefined && !(Number.isInteger(rule.nth) && rule.nth >= 1)) bad('nth must be an integer >= 1');
  if (rule.times !== undefined && !(Number.isInteger(rule.times) && rule.times >= 1)) bad('times must be an integer >= 1');
}

const globCache = new Map<string, RegExp>();

/** "*" matches within a path component (anything, for values), "**" across components. */
export function globMatch(pattern: string, text: string, isPath: boolean): boolean {
  if (!pattern.includes('*')) return pattern === text;
  const key = `${isPath ? 'p' : 'v'}${pattern}`;
  let re = globCache.get(key);
  if (!re) {
    const body = pattern
      .split('**')
      .map((part) => part.split('*').map(escapeRe).join(isPath ? '[^/]*' : '.*'))
      .join('.*');
    re = new RegExp(`^${body}$`, 's');
    globCache.set(key, re);
  }
  return re.test(text);
}

function escapeRe(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/** A VM left the function in a state only a reset clears ("probe-fails", "no-nodes"), or none does ("forever"). */
export function wedgeFunction(root: string, address: string, how: WedgeKind): void {
  changeKernel(root, (k) => {
    if (!k.device(address)) throw new Error(`no PCI device ${address} in the simulated host ${root}`);
    k.state.wedged[address] = how;
  });
}

/** The card is power-cycled (a host suspend, a reboot of the card's slot): whatever wedge it had is gone. */
export function unwedgeFunction(root: string, address: string): void {
  changeKernel(root, (k) => {
    delete k.state.wedged[address];
  });
}
