// gpu-hookd SIGKILLed at every write of every operation, and between the writes of the recovery
// after it: the kernel's (the simulated host's) and its own state directory's. After each kill a
// restart must leave the daemon exactly where a fresh start on that host would: the operation done
// or undone as a whole, no journal, and no record or claim that the host does not bear out. Then,
// whatever the kill left, a VM's Prepare and Release give the host its GPU and desktop back.
//
// Host writes are stopped by a blocking fault of the simulated kernel (the write has not taken
// effect); state writes by test/support/state-write-gate.ts, loaded into the daemon, which stops it
// just before its Nth write to the state directory.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GPU_IFACE, gpuObjectPath } from '../../../src/dbus/contract';
import { journalDir } from '../../../src/engine/journal';
import { clearFaults, faultCounts, injectFault } from '../../../src/sim/faults';
import { DM_UNIT } from '../../../src/sim/desktop/simulated-desktop';
import type { HostSnapshot } from '../../../src/sim/snapshot';
import { waitFor } from '../../support/processes';
import { buildTestDomainXml } from '../../support/safe-domain';
import { ARMED, BLOCKED, WRITES } from '../../support/state-write-gate';
import { DaemonUnderTest, printDaemonLogOnFailure } from './daemon-under-test';

const RTX = '0000:01:00.0';
const RTX_PATH = gpuObjectPath(RTX);
const FUNCTIONS = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const WIN10 = buildTestDomainXml({ name: 'win10', hostdevs: FUNCTIONS.map((address) => ({ address, managed: true })) });
const GATE_ENTRY = path.join(__dirname, '../../support/state-write-gate.js');

interface Operation {
  name: string;
  /** Brings the host where the operation starts, through the daemon. */
  setup: (dut: DaemonUnderTest) => Promise<unknown>;
  run: (dut: DaemonUnderTest) => Promise<unknown>;
}

const detachByHand = (dut: DaemonUnderTest): Promise<unknown> => dut.call('Detach', 's', [RTX]);
const prepare = (dut: DaemonUnderTest): Promise<unknown> => dut.call('Prepare', 'ss', ['win10', WIN10]);

const OPERATIONS: Operation[] = [
  { name: 'Detach', setup: async () => undefined, run: detachByHand },
  { name: 'Attach', setup: detachByHand, run: (dut) => dut.call('Attach', 's', [RTX]) },
  { name: 'Prepare', setup: async () => undefined, run: prepare },
  { name: 'Started', setup: prepare, run: (dut) => dut.call('Started', 'ss', ['win10', WIN10]) },
  { name: 'Release', setup: prepare, run: (dut) => dut.call('Release', 'ss', ['win10', WIN10]) },
  { name: 'Prepare of a GPU detached by hand', setup: detachByHand, run: prepare },
  { name: 'Release of a GPU detached by hand', setup: async (dut) => (await detachByHand(dut), prepare(dut)), run: (dut) => dut.call('Release', 'ss', ['win10', WIN10]) },
];

/** What the daemon and the host stand at: compared before and after an operation and a kill. */
interface Standing {
  host: HostSnapshot;
  desktop: string;
  mode: unknown;
  owner: unknown;
  records: Record<string, { owner: unknown; manual: unknown }>;
}

describe('gpu-hookd SIGKILLed at any write, restarted', function () {
  this.timeout(900_000);
  let dut: DaemonUnderTest;
  let gate: string;
  let atBoot: HostSnapshot;

  before(async () => {
    dut = await DaemonUnderTest.start();
    gate = path.join(dut.workDir, 'gate');
    fs.mkdirSync(gate);
    await restart();
    // The firmware framebuffer does not come back once the boot GPU has moved (as on a real kernel).
    await dut.call('Detach', 's', [RTX]);
    await dut.call('Attach', 's', [RTX]);
    atBoot = dut.snapshot();
  });
  printDaemonLogOnFailure(() => dut);
  after(async () => {
    await dut?.dispose();
  });

  async function restart(): Promise<void> {
    if (dut.pid !== undefined) await dut.kill();
    await dut.startDaemon({ NODE_OPTIONS: `--require ${GATE_ENTRY}`, GPU_HOOKD_TEST_STATE_DIR: dut.stateDir, GPU_HOOKD_TEST_GATE: gate });
  }

  function disarm(): void {
    for (const f of [ARMED, WRITES, BLOCKED]) fs.rmSync(path.join(gate, f), { force: true });
  }

  function records(): Standing['records'] {
    const dir = path.join(dut.stateDir, 'gpus');
    const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.json') && !n.startsWith('.')) : [];
    return Object.fromEntries(
      names.map((n) => {
        const r = JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as { owner: unknown; manual: unknown };
        return [n, { owner: r.owner, manual: r.manual }];
      }),
    );
  }

  async function standing(): Promise<Standing> {
    const gpu = await dut.properties(RTX_PATH, GPU_IFACE);
    const desktop = (await dut.desktop?.systemd.unit(DM_UNIT))?.activeState ?? '';
    return { host: dut.snapshot(), desktop, mode: gpu.Mode, owner: gpu.Owner, records: records() };
  }

  /** Nothing the host does not bear out: no journal, no claims file, and a record only for a GPU with a function on vfio-pci. */
  function assertBorneOut(where: string): void {
    const journals = fs.existsSync(journalDir(dut.stateDir)) ? fs.readdirSync(journalDir(dut.stateDir)).filter((n) => !n.startsWith('.')) : [];
    assert.deepEqual(journals, [], `${where}: no journal left`);
    assert.equal(fs.existsSync(path.join(dut.stateDir, 'owners.json')), false, `${where}: no claims apart from the records`);
    const host = dut.snapshot();
    for (const name of Object.keys(records())) {
      const onVfio = FUNCTIONS.some((f) => host.pciDevices[f]?.driver === 'vfio-pci');
      assert.ok(onVfio && name === `${RTX}.json`, `${where}: the record ${name} is borne out by a function on vfio-pci`);
    }
  }

  /** From wherever the kill left it: the GPU given back as a user would, then a VM's life; the host must end as it booted. */
  async function assertVmLifeGivesTheHostBack(where: string): Promise<void> {
    const gpu = await dut.properties(RTX_PATH, GPU_IFACE);
    if (gpu.Owner !== '') await dut.call('Release', 'ss', [gpu.Owner, '']);
    if ((await dut.properties(RTX_PATH, GPU_IFACE)).Mode === 'vfio') await dut.call('Attach', 's', [RTX]);
    await prepare(dut);
    assert.equal((await dut.properties(RTX_PATH, GPU_IFACE)).Owner, 'win10', where);
    await dut.call('Release', 'ss', ['win10', WIN10]);
    assert.deepEqual(dut.snapshot(), atBoot, `${where}: after a VM's prepare and release the host is as it booted`);
    assert.equal((await dut.desktop?.systemd.unit(DM_UNIT))?.activeState, 'active', `${where}: the desktop runs`);
    assert.deepEqual(records(), {}, `${where}: no record once the GPU is back`);
  }

  type Stop = { kind: 'host' | 'state'; n: number };

  /** Arms a stop before the operation's Nth write of that kind; resolves true once the daemon stands there, false if the operation ended first. */
  async function stopAt(stop: Stop, op: Promise<unknown>): Promise<boolean> {
    let ended = false;
    void op.then(
      () => (ended = true),
      () => (ended = true),
    );
    const reached = stop.kind === 'host' ? (): boolean => faultCounts(dut.root).some((c) => c.fired === 1) : (): boolean => fs.existsSync(path.join(gate, BLOCKED));
    await waitFor(`the daemon at ${stop.kind} write ${stop.n} or the operation's end`, () => reached() || ended, { timeoutMs: 30_000 });
    return reached();
  }

  function arm(stop: Stop): void {
    disarm();
    clearFaults(dut.root);
    if (stop.kind === 'host') injectFault(dut.root, { path: '**', nth: stop.n, times: 1, effect: { kind: 'block' } });
    else fs.writeFileSync(path.join(gate, ARMED), String(stop.n));
  }

  /** Kills the daemon where `stop` holds it during `run`, and restarts it unless told not to; false
   *  when the operation made fewer writes (it ran to its end). */
  async function killDuring(stop: Stop, run: () => Promise<unknown>, restartAfter = true): Promise<boolean> {
    arm(stop);
    const reached = await stopAt(stop, run().catch(() => undefined));
    if (reached) await dut.kill();
    clearFaults(dut.root);
    disarm();
    if (reached && restartAfter) await restart();
    return reached;
  }

  for (const operation of OPERATIONS) {
    it(`${operation.name}: at every write, the restart finds it done or undone whole, and a VM's life gives the host back`, async () => {
      await operation.setup(dut);
      const before = await standing();
      await operation.run(dut);
      const after = await standing();
      await assertVmLifeGivesTheHostBack(`${operation.name} run whole`);
      let kills = 0;
      for (const kind of ['host', 'state'] as const) {
        for (let n = 1; ; n++) {
          const where = `${operation.name} killed before ${kind} write ${n}`;
          await operation.setup(dut);
          const reached = await killDuring({ kind, n }, () => operation.run(dut));
          if (reached) {
            kills++;
            assertBorneOut(where);
            const now = await standing();
            // Undone whole, or (killed after its last host write) done whole.
            if (!isDeepEqual(now, after)) assert.deepEqual(now, before, `${where}: the restart stands as before the operation, or as after it`);
          }
          await assertVmLifeGivesTheHostBack(where);
          if (!reached) break;
        }
      }
      assert.ok(kills > 0 || operation.name === 'Started', `${operation.name} was killed at least once`);
    });
  }

  it('recovery itself, killed at each of its writes after a Prepare killed mid-way, then a restart: the host as before the Prepare', async () => {
    const before = await standing();
    for (const kind of ['host', 'state'] as const) {
      for (let n = 1; ; n++) {
        const where = `recovery killed before ${kind} write ${n}`;
        // The Prepare stopped at its third host write, with the host half-way.
        assert.ok(await killDuring({ kind: 'host', n: 3 }, () => prepare(dut), false), 'the Prepare reached its third write');
        arm({ kind, n });
        await dut.startDaemon({ NODE_OPTIONS: `--require ${GATE_ENTRY}`, GPU_HOOKD_TEST_STATE_DIR: dut.stateDir, GPU_HOOKD_TEST_GATE: gate }, false);
        const reached = kind === 'host' ? () => faultCounts(dut.root).some((c) => c.fired === 1) : () => fs.existsSync(path.join(gate, BLOCKED));
        const started = await waitFor(`recovery at ${kind} write ${n}, or the daemon serving`, async () => reached() || ((await dut.nameHasOwner()) ? 'serving' : false), { timeoutMs: 30_000 });
        if (started !== 'serving') await dut.kill();
        clearFaults(dut.root);
        disarm();
        if (started !== 'serving') await restart();
        assertBorneOut(where);
        assert.deepEqual(await standing(), before, where);
        await assertVmLifeGivesTheHostBack(where);
        if (started === 'serving') break;
      }
    }
  });
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}
