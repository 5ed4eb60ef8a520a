// pin "auto" end to end: a REAL libvirtd starts a 2-vCPU TCG domain, our hook calls the REAL daemon
// on a private bus, the daemon confines the host's units through the systemd stand-in at prepare and
// pins the REAL QEMU's threads at started; destroy gives everything back. The daemon's host is
// simulated with this machine's CPU shape (2 cores, no SMT), so its plan is: host keeps CPU 0, both
// vCPUs on CPU 1. The QEMU is real, so its threads are too: a hook that runs before ours adopts the
// QEMU into the simulated host (proc/<pid> -> /proc/<pid>, as src/sim/sim-processes.ts adopts a
// test's process) and the simulated host's run/libvirt/qemu is libvirt's own, read-only. Setting the
// affinity of that QEMU's threads is the only thing done to this machine; systemd is never this
// machine's, AllowedCPUs only ever reach the stand-in.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCpuList } from '../../../src/cpu/cpu-list';
import { METADATA_NS } from '../../../src/libvirt/domain-request';
import seed from '../../../src/sim/scenarios/seed';
import { startLibvirt, type HookFile, type Libvirt } from '../../support/libvirt-harness';
import { readFileOrUndefined, waitFor } from '../../support/processes';
import { safeDomainXml } from '../../support/safe-domain';
import { startSystemdStandin, type SystemdStandin } from '../../../src/sim/desktop/systemd-standin';
import { makeTempRoot } from '../../support/temp-root';
import { DaemonUnderTest } from '../daemon/daemon-under-test';
import { gpuHookdHookFiles, installHookConf } from '../libvirt/gpu-host';
import { cpuKnobs, cpuRecords } from '../../integration/cpu/cpu-host';

const DOMAIN = 'gpuhookd-cpu-pin';
const LIBVIRT_RUN_DIR = '/run/libvirt/qemu';

/** Runs before ours ("00-" sorts first): at started, makes the domain's QEMU a process of the simulated host. */
function adoptQemuHook(root: string): HookFile {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return {
    name: '00-gpu-hookd-e2e-adopt-qemu',
    content: `#!/bin/bash
cat >/dev/null
[ "$2/$3" = started/begin ] || exit 0
pid=$(cat ${LIBVIRT_RUN_DIR}/"$1".pid) || exit 1
ln -sfn /proc/"$pid" ${q(root)}/proc/"$pid"
`,
  };
}

/** Each real thread of a process: name and Cpus_allowed_list, read from this machine's /proc. */
function realThreads(pid: number): { comm: string; cpus: number[] }[] {
  return fs.readdirSync(`/proc/${pid}/task`).map((tid) => ({
    comm: (readFileOrUndefined(`/proc/${pid}/task/${tid}/comm`) ?? '').trim(),
    cpus: parseCpuList(/Cpus_allowed_list:\s*(.*)/.exec(readFileOrUndefined(`/proc/${pid}/task/${tid}/status`) ?? '')?.[1] ?? ''),
  }));
}

describe('pin "auto" with a real libvirtd and a real QEMU', function () {
  this.timeout(120_000);
  let dut: DaemonUnderTest;
  let systemd: SystemdStandin;
  let lv: Libvirt;
  let removeHookConf: (() => void) | undefined;
  let scenarioDir: { root: string; cleanup: () => void };

  before(async function () {
    // The plan is made for 2 cores; this machine must have CPUs 0 and 1 for QEMU's threads to land there.
    const online = parseCpuList(fs.readFileSync('/sys/devices/system/cpu/online', 'utf8'));
    if (!online.includes(0) || !online.includes(1)) this.skip();
    scenarioDir = makeTempRoot('gpu-hookd-cpu-e2e-');
    const scenario = path.join(scenarioDir.root, 'two-cpus.json');
    fs.writeFileSync(scenario, JSON.stringify({ ...seed, name: 'two-cpus', cpu: { vendor: 'intel', model: 'like this machine', coresPerSocket: 2, threadsPerCore: 1 } }));
    dut = await DaemonUnderTest.start({ scenario, desktop: false });
    systemd = await startSystemdStandin(dut.bus);
    fs.mkdirSync(path.join(dut.root, 'run/libvirt'), { recursive: true });
    fs.symlinkSync(LIBVIRT_RUN_DIR, path.join(dut.root, 'run/libvirt/qemu'));
    // The harness first: it waits for another run to finish, and hook.conf is read at each hook call.
    lv = await startLibvirt({ hooks: [adoptQemuHook(dut.root), ...gpuHookdHookFiles()] });
    removeHookConf = installHookConf(`GPU_HOOKD_BUS=${dut.bus.address}\nGPU_HOOKD_SYSFS=${path.join(dut.root, 'sys')}\n`);
  });

  after(async () => {
    try {
      await lv?.stop();
    } finally {
      removeHookConf?.();
      await systemd?.stop();
      await dut?.dispose();
      scenarioDir?.cleanup();
    }
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      console.log(`--- gpu-hookd log ---\n${dut.log().slice(-8000)}\n--- libvirtd log (hooks) ---\n${lv.libvirtdLog().split('\n').filter((l) => /hook/i.test(l)).slice(-20).join('\n')}`);
    }
  });

  const units = async (): Promise<number[][]> => Promise.all(['system.slice', 'user.slice', 'init.scope'].map(async (u) => (await systemd.unit(u)).allowedCpus));

  it('pins both vCPU threads to CPU 1 and QEMU\'s other threads to CPU 0, confines host work to CPU 0; destroy leaves nothing of ours', async () => {
    const knobs = cpuKnobs(dut.sim);
    const metadata = `<hookd:vm xmlns:hookd='${METADATA_NS}' pin='auto' isolateCpus='yes'/>`;
    await lv.defineDomain(safeDomainXml({ name: DOMAIN, vcpus: 2, metadata }));
    const start = await lv.virsh(['start', DOMAIN]);
    assert.equal(start.code, 0, start.stderr);
    const pid = lv.domainPid(DOMAIN);
    assert.ok(pid, 'QEMU runs');

    const threads = realThreads(pid);
    const vcpus = threads.filter((t) => /^CPU \d+\/(TCG|KVM)$/.test(t.comm));
    assert.deepEqual(vcpus.map((t) => t.comm).sort(), ['CPU 0/TCG', 'CPU 1/TCG']);
    for (const t of vcpus) assert.deepEqual(t.cpus, [1], `${t.comm} runs on the plan's CPU`);
    for (const t of threads.filter((x) => !vcpus.includes(x))) assert.deepEqual(t.cpus, [0], `${t.comm} runs on the host's CPU`);
    assert.deepEqual(await units(), [[0x01], [0x01], [0x01]]);
    assert.deepEqual(cpuRecords(dut.stateDir), [`${DOMAIN}.prepare.json`]);

    assert.equal((await lv.virsh(['destroy', DOMAIN])).code, 0);
    await waitFor('the release hook to give the CPUs back', () => cpuRecords(dut.stateDir).length === 0, { timeoutMs: 20_000 });
    assert.deepEqual(await units(), [[], [], []]);
    assert.deepEqual(cpuKnobs(dut.sim), knobs);
    assert.doesNotMatch(dut.log(), /"level":50/, 'no error in the daemon log');
  });
});
