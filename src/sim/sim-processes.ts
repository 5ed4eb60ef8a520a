// Processes on a simulated host. A scenario's processes are proc/<pid> directories with comm and fd
// links written from the scenario (build-tree.ts); they "exit" when their directory goes, releasing
// the IOMMU groups they held (holdGroup) as the kernel closes their files, and "start" again when it
// is rewritten from the scenario (a stand-in display manager's unit stopping and starting). A real
// process of a test can be adopted: proc/<pid> then is a symlink to the real /proc/<pid>, so a scan
// reads the process's real fd links, which name files below the simulated root
// (<root>/dev/dri/card0), exactly as a chrooted reader of the real /proc would.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeProcess } from './build-tree';
import { changeKernel, exitProcess } from './faults';
import { SimPaths } from './sim-state';
import { Tree } from './tree';

function simRoot(root: string): { paths: SimPaths; tree: Tree } {
  const paths = new SimPaths(path.resolve(root));
  if (!fs.existsSync(paths.state)) throw new Error(`${root} is not a simulated host (no ${paths.state})`);
  return { paths, tree: new Tree(paths.root) };
}

function checkPid(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`refusing PID ${pid}: not a process a simulated host can hold`);
}

function adoptedTarget(pid: number): string {
  return `/proc/${pid}`;
}

/** True when proc/<pid> of the simulated host is a real process adopted with adoptProcess. */
export function isAdoptedProcess(root: string, pid: number): boolean {
  const { tree } = simRoot(root);
  try {
    return fs.readlinkSync(tree.abs(`proc/${pid}`)) === adoptedTarget(pid);
  } catch {
    return false;
  }
}

/** Makes a real process (one the test started) visible in the simulated proc tree. */
export function adoptProcess(root: string, pid: number): void {
  checkPid(pid);
  const { tree } = simRoot(root);
  if (tree.present(`proc/${pid}`)) throw new Error(`the simulated host already has a process ${pid}`);
  if (!fs.existsSync(adoptedTarget(pid))) throw new Error(`no process ${pid} runs on this machine`);
  tree.rawLink(`proc/${pid}`, adoptedTarget(pid));
}

/** A scenario process exits (its proc entry goes, the groups it held are released); an adopted process is only forgotten. */
export function endSimProcess(root: string, pid: number): void {
  checkPid(pid);
  simRoot(root);
  changeKernel(root, (k) => exitProcess(k, pid));
}

/** A scenario process starts again with the PID, comm and open files its scenario gives it. */
export function startSimProcess(root: string, pid: number): void {
  simRoot(root);
  changeKernel(root, (k) => {
    const spec = k.scenario.processes.find((p) => p.pid === pid);
    if (!spec) throw new Error(`the scenario ${k.scenario.name} has no process ${pid}`);
    writeProcess(k.tree, k.scenario, spec);
  });
}

/**
 * Delivers SIGTERM or SIGKILL: an adopted process gets the real signal (it is the test's own
 * child); a scenario process exits at once, as a process with default signal handling does.
 */
export function signalSimProcess(root: string, pid: number, signal: 'SIGTERM' | 'SIGKILL'): void {
  checkPid(pid);
  if (isAdoptedProcess(root, pid)) {
    process.kill(pid, signal);
    return;
  }
  simRoot(root);
  changeKernel(root, (k) => {
    if (!k.tree.present(`proc/${pid}`)) throw Object.assign(new Error(`no process ${pid} on the simulated host`), { code: 'ESRCH' });
    exitProcess(k, pid);
  });
}
