// sched_setaffinity(2) for the simulated host's processes (a scenario's QEMU with its "CPU n/KVM"
// threads). There is no file to write on a real kernel, so this is not a HostIO write: it changes
// Cpus_allowed_list in proc/<pid>/task/<tid>/status (and the main thread's proc/<pid>/status) as the
// syscall would, under the host's lock. Fault rules match the pseudo path "sched_setaffinity" with
// the value "<tid> <cpu list>", and only "fail" applies.

import * as fs from 'node:fs';
import { takeFaults } from './faults';
import { KernelError } from './kernel-context';
import { SimPaths, withLock } from './sim-state';
import { formatCpuList, parseCpuList } from './sysfs-layout';
import { Tree } from './tree';

export const SCHED_SETAFFINITY_PATH = 'sched_setaffinity';

/** Sets a simulated thread's allowed CPUs; throws KernelError (ESRCH, EINVAL, or an injected errno). */
export function setSimThreadAffinity(root: string, pid: number, tid: number, cpus: readonly number[]): void {
  const paths = new SimPaths(root);
  const tree = new Tree(root);
  const list = formatCpuList([...cpus]);
  withLock(paths, () => {
    const failure = takeFaults(paths, SCHED_SETAFFINITY_PATH, `${tid} ${list}`).find((e) => e.kind === 'fail');
    if (failure && failure.kind === 'fail') throw new KernelError(failure.errno, `injected ${failure.errno}`);
    const status = `proc/${pid}/task/${tid}/status`;
    if (!tree.present(status)) throw new KernelError('ESRCH', `no thread ${tid} in process ${pid}`);
    const online = parseCpuList(fs.readFileSync(tree.abs('sys/devices/system/cpu/online'), 'utf8')) ?? [];
    if (!cpus.some((c) => online.includes(c))) throw new KernelError('EINVAL', `CPU list ${JSON.stringify(list)} holds no online CPU`);
    for (const file of tid === pid ? [status, `proc/${pid}/status`] : [status]) {
      const text = fs.readFileSync(tree.abs(file), 'utf8');
      tree.file(file, text.replace(/^Cpus_allowed_list:.*$/m, `Cpus_allowed_list:\t${list}`));
    }
  });
}
