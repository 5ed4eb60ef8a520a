// The D-Bus API of the real daemon on a real dbus-daemon: every method and property, the live
// introspection against the contract file, PropertiesChanged and the transition signals in the
// order a client sees them, and named one-sentence errors that change nothing.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as dbus from 'dbus-next';
import { BUS_NAME, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, gpuObjectPath, parseIntrospection, readContractXml, type InterfaceSpec } from '../../../src/dbus/contract';
import { clearFaults, injectFault } from '../../../src/sim/faults';
import { waitFor } from '../../support/processes';
import { buildTestDomainXml } from '../../support/safe-domain';
import { DaemonUnderTest, callError, recordSignals, type Recorded, useDaemonUnderTest } from './daemon-under-test';

const RTX = '0000:01:00.0';
const RTX_PATH = gpuObjectPath(RTX);
const RTX_FUNCTIONS = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const HOST_DRIVERS = { '0000:01:00.0': 'nouveau', '0000:01:00.1': 'snd_hda_intel', '0000:01:00.2': 'xhci_hcd', '0000:01:00.3': 'nvidia-gpu' };
const VFIO_DRIVERS = Object.fromEntries(RTX_FUNCTIONS.map((f) => [f, 'vfio-pci']));
const PROPERTIES = 'org.freedesktop.DBus.Properties';

/** A VM given every function of the RTX, as virt-manager writes it (parsed by the daemon only, never defined in libvirt). */
const vmXml = (name: string, functions = RTX_FUNCTIONS): string =>
  buildTestDomainXml({ name, hostdevs: functions.map((address) => ({ address, managed: true })) });

/** One human sentence: no stack frames, no source locations, no line breaks. */
function assertOneSentence(text: string): void {
  assert.doesNotMatch(text, /\n/, `more than one line: ${text}`);
  assert.doesNotMatch(text, /\bat .*\(.*:\d+:\d+\)|\.js:\d+|\.ts:\d+|node:internal/, `looks like a stack trace: ${text}`);
  assert.ok(text.length > 20, `too short to say what happened: ${text}`);
}

/** Interfaces of an introspection as comparable data: argument names are documentation, not contract. */
function shapes(specs: InterfaceSpec[]): unknown[] {
  return specs
    .map((i) => ({
      name: i.name,
      methods: i.methods.map((m) => ({ name: m.name, args: m.args.map((a) => `${a.direction} ${a.type}`) })).sort((a, b) => a.name.localeCompare(b.name)),
      properties: i.properties.map((p) => `${p.name} ${p.type} ${p.access}`).sort(),
      signals: i.signals.map((s) => ({ name: s.name, args: s.args.map((a) => a.type) })).sort((a, b) => a.name.localeCompare(b.name)),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

describe('gpu-hookd D-Bus API (real daemon, real dbus-daemon, simulated seed host)', function () {
  this.timeout(30_000);
  let dut: DaemonUnderTest;

  useDaemonUnderTest((started) => (dut = started));
  afterEach(() => clearFaults(dut.root));

  async function introspect(objectPath: string): Promise<string> {
    const reply = await dut
      .connection()
      .call(new dbus.Message({ destination: BUS_NAME, path: objectPath, interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' }));
    return reply?.body[0] as string;
  }

  async function get(objectPath: string, iface: string, name: string): Promise<unknown> {
    const reply = await dut.connection().call(new dbus.Message({ destination: BUS_NAME, path: objectPath, interface: PROPERTIES, member: 'Get', signature: 'ss', body: [iface, name] }));
    return (reply?.body[0] as dbus.Variant).value;
  }

  const gpu = (): Promise<Record<string, unknown>> => dut.properties(RTX_PATH, GPU_IFACE);
  const manager = (): Promise<Record<string, unknown>> => dut.properties(MANAGER_PATH, MANAGER_IFACE);

  describe('objects and properties', () => {
    it('the Manager tells the version, the GPU objects and the status line', async () => {
      const version = (JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../../package.json'), 'utf8')) as { version: string }).version;
      assert.deepEqual(await manager(), { Version: version, Gpus: [RTX_PATH], Status: 'idle: 1 GPU on host drivers' });
      assert.equal(await get(MANAGER_PATH, MANAGER_IFACE, 'Status'), 'idle: 1 GPU on host drivers');
    });

    it('the GPU object has every property of the contract, and Get agrees with GetAll', async () => {
      const all = await gpu();
      assert.deepEqual(all, {
        Address: RTX,
        Name: 'NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]',
        IommuGroup: '13',
        Functions: RTX_FUNCTIONS,
        Drivers: HOST_DRIVERS,
        HostDrivers: {},
        Leftovers: {},
        Mode: 'host',
        Owner: '',
        LastError: '',
        BootVga: true,
        // The seed's functions have a PM capability that resets on D3hot (sim/reset-model.ts); the kernel
        // lists a bus reset for the first function on the bus (it was alone there when it was added).
        ResetMethods: Object.fromEntries(RTX_FUNCTIONS.map((f, i) => [f, i === 0 ? ['pm', 'bus'] : ['pm']])),
      });
      for (const [name, value] of Object.entries(all)) assert.deepEqual(await get(RTX_PATH, GPU_IFACE, name), value, name);
    });

    it('the live introspection of every object equals the contract src/dbus/org.gpuhookd1.xml', async () => {
      const contract = parseIntrospection(readContractXml());
      const ours = (xml: string): InterfaceSpec[] => parseIntrospection(xml).filter((i) => i.name.startsWith('org.gpuhookd1.'));
      assert.deepEqual(shapes(ours(await introspect(MANAGER_PATH))), shapes(contract.filter((i) => i.name === MANAGER_IFACE)));
      assert.deepEqual(shapes(ours(await introspect(RTX_PATH))), shapes(contract.filter((i) => i.name === GPU_IFACE)));
      assert.match(await introspect('/org/gpuhookd1/gpu'), /<node name="0000_01_00_0"/);
      // The standard interfaces clients rely on are there too.
      const standard = parseIntrospection(await introspect(RTX_PATH)).map((i) => i.name);
      for (const name of ['org.freedesktop.DBus.Introspectable', PROPERTIES, 'org.freedesktop.DBus.Peer']) assert.ok(standard.includes(name), name);
    });

    it('LogControl1 tells the log level and takes a new one from root', async () => {
      const path = '/org/freedesktop/LogControl1';
      const iface = 'org.freedesktop.LogControl1';
      assert.deepEqual(await dut.properties(path, iface), { LogLevel: 'info', LogTarget: 'journal', SyslogIdentifier: 'gpu-hookd' });
      const set = (level: string): Promise<dbus.Message | null> =>
        dut.connection().call(new dbus.Message({ destination: BUS_NAME, path, interface: PROPERTIES, member: 'Set', signature: 'ssv', body: [iface, 'LogLevel', new dbus.Variant('s', level)] }));
      await set('debug');
      assert.equal(await get(path, iface, 'LogLevel'), 'debug');
      const bad = await callError(set('loud'));
      assert.equal(bad.name, 'org.gpuhookd1.Error.InvalidArgument');
      assertOneSentence(bad.text);
      await set('info');
      assert.equal(await get(path, iface, 'LogLevel'), 'info');
    });
  });

  describe('a VM\'s life through the hook\'s methods', () => {
    it('Prepare moves the whole group to vfio-pci for the VM; signals come in order: Mode, TransitionStarted, steps, Mode, TransitionFinished', async () => {
      const signals = await recordSignals(dut.connection());
      let moved: unknown[];
      try {
        moved = await dut.call('Prepare', 'ss', ['win10', vmXml('win10')]);
      } finally {
        await signals.stop();
      }
      assert.deepEqual(moved, [[RTX]]);

      const events = describeSignals(signals.recorded);
      assert.deepEqual(events.filter((e) => e.startsWith('gpu ')), ['gpu Mode=detaching', 'gpu Owner=win10', 'gpu Mode=vfio']);
      assert.deepEqual(events.filter((e) => e.startsWith('manager ')), [`manager Status=${RTX} detaching for win10`, `manager Status=${RTX} on vfio-pci for win10`]);
      const milestones = ['gpu Mode=detaching', 'TransitionStarted detach win10', 'StepFinished', 'gpu Mode=vfio', 'TransitionFinished detach true'];
      assert.deepEqual(
        events.filter((e) => milestones.includes(e)).filter((e, i, all) => e !== 'StepFinished' || all[i - 1] !== 'StepFinished'),
        milestones,
        `every step between the start and the end: ${events.join(' | ')}`,
      );
      // The owner comes in the same signal as the start of the move: no client ever sees a GPU detaching for nobody.
      const first = signals.recorded.find((s) => s.path === RTX_PATH && s.member === 'PropertiesChanged') as Recorded;
      assert.deepEqual(Object.keys(first.body[1] as object).filter((k) => k === 'Mode' || k === 'Owner'), ['Mode', 'Owner']);

      const steps = signals.recorded.filter((s) => s.member === 'StepFinished');
      for (const s of steps) {
        assert.equal(s.body[0], RTX_PATH);
        assert.equal(typeof s.body[2], 'bigint');
      }
      const described = steps.map((s) => s.body[1] as string);
      // The functions' runs go side by side: each function's own steps in order, then the group's wait.
      const waited = described.indexOf('wait for /dev/vfio/13');
      for (const f of RTX_FUNCTIONS) {
        const own = [`set driver_override of ${f} to vfio-pci`, `unbind ${f} from ${HOST_DRIVERS[f as keyof typeof HOST_DRIVERS]}`, `probe ${f} for vfio-pci`];
        assert.deepEqual(described.filter((d) => own.includes(d)), own, `${f} moved, its steps in order`);
        assert.ok(described.indexOf(own[2]) < waited, `the group is waited for once ${f} moved`);
      }
      // The seed's only GPU draws the desktop: the handover's steps come first, and are reported alike.
      assert.equal(described[0], 'stop display-manager.service');

      await assertGpu({ Mode: 'vfio', Owner: 'win10', Drivers: VFIO_DRIVERS, HostDrivers: HOST_DRIVERS, LastError: '' });
      assert.deepEqual(RTX_FUNCTIONS.map((f) => dut.sim.io.readLinkName(`sys/bus/pci/devices/${f}/driver`)), RTX_FUNCTIONS.map(() => 'vfio-pci'));
      assert.equal((await manager()).Status, `${RTX} on vfio-pci for win10`);
    });

    it('Started and Reconnect for the running VM succeed and change nothing', async () => {
      const before = dut.snapshot();
      assert.deepEqual(await dut.call('Started', 'ss', ['win10', vmXml('win10')]), []);
      assert.deepEqual(await dut.call('Reconnect', 'ss', ['win10', vmXml('win10')]), []);
      assert.deepEqual(dut.snapshot(), before);
      assert.equal((await gpu()).Owner, 'win10');
    });

    it('while the VM holds the GPU, another VM and both manual toggles are refused with Busy naming the VM, and nothing changes', async () => {
      const before = dut.snapshot();
      for (const [member, body] of [
        ['Prepare', ['linux', vmXml('linux', ['0000:01:00.1'])]],
        ['Attach', [RTX]],
        ['Detach', ['0000:01:00.2']],
      ] as const) {
        const err = await callError(dut.call(member, 's'.repeat(body.length), [...body]));
        assert.equal(err.name, 'org.gpuhookd1.Error.Busy', member);
        assert.match(err.text, /held by VM win10/, member);
        assertOneSentence(err.text);
      }
      assert.deepEqual(dut.snapshot(), before);
      assert.equal((await gpu()).Owner, 'win10');
    });

    it('Release gives every function back to its host driver, then clears the owner; a second Release is a no-op', async () => {
      const signals = await recordSignals(dut.connection());
      try {
        await dut.call('Release', 'ss', ['win10', vmXml('win10')]);
      } finally {
        await signals.stop();
      }
      assert.deepEqual(describeSignals(signals.recorded).filter((e) => e.startsWith('gpu ')), ['gpu Mode=attaching', 'gpu Mode=host', 'gpu Owner=']);
      await assertGpu({ Mode: 'host', Owner: '', Drivers: HOST_DRIVERS, HostDrivers: {} });
      assert.equal((await manager()).Status, 'idle: 1 GPU on host drivers');

      const before = dut.snapshot();
      assert.deepEqual(await dut.call('Release', 'ss', ['win10', '']), []);
      assert.deepEqual(dut.snapshot(), before);
    });

    it('Prepare of a VM that names no GPU moves nothing and returns no GPU', async () => {
      const before = dut.snapshot();
      assert.deepEqual(await dut.call('Prepare', 'ss', ['plain', buildTestDomainXml({ name: 'plain' })]), [[]]);
      assert.deepEqual(dut.snapshot(), before);
    });
  });

  describe('toggling by hand', () => {
    it('Detach of any function moves the group and keeps no owner; Attach gives it back', async () => {
      await dut.call('Detach', 's', ['0000:01:00.1']);
      await assertGpu({ Mode: 'vfio', Owner: '', Drivers: VFIO_DRIVERS });
      assert.equal((await manager()).Status, `${RTX} on vfio-pci (detached by hand)`);
      await dut.call('Attach', 's', [RTX]);
      await assertGpu({ Mode: 'host', Owner: '', Drivers: HOST_DRIVERS });
    });

    it('a VM takes a GPU detached by hand without another move, and leaves it on vfio-pci at release', async () => {
      await dut.call('Detach', 's', [RTX]);
      const signals = await recordSignals(dut.connection());
      await dut.call('Prepare', 'ss', ['win10', vmXml('win10')]);
      assert.equal((await gpu()).Owner, 'win10');
      await dut.call('Release', 'ss', ['win10', vmXml('win10')]);
      await signals.stop();
      assert.equal(signals.recorded.filter((s) => s.member === 'StepFinished').length, 0, 'no kernel step');
      await assertGpu({ Mode: 'vfio', Owner: '' });
      await dut.call('Attach', 's', [RTX]);
      assert.equal((await gpu()).Mode, 'host');
    });

    it('Reload re-reads the config and rescans the host', async () => {
      assert.deepEqual(await dut.call('Reload'), []);
      assert.deepEqual((await manager()).Gpus, [RTX_PATH]);
    });
  });

  describe('named errors: one sentence, never a stack trace, and nothing changed', () => {
    const cases: { what: string; member: string; body: string[]; name: string; text: RegExp }[] = [
      { what: 'a malformed address', member: 'Detach', body: ['01:00'], name: 'InvalidArgument', text: /"01:00" is not a PCI address/ },
      { what: 'an address that is no GPU', member: 'Attach', body: ['0000:00:1f.6'], name: 'InvalidArgument', text: /0000:00:1f\.6 .* is not a GPU/ },
      { what: 'a device this host does not have', member: 'Detach', body: ['0000:05:00.0'], name: 'NotFound', text: /no PCI device 0000:05:00\.0/ },
      { what: 'an empty VM name', member: 'Prepare', body: ['', vmXml('win10')], name: 'InvalidArgument', text: /domain name is empty/ },
      { what: 'an empty VM name at release', member: 'Release', body: ['', ''], name: 'InvalidArgument', text: /domain name is empty/ },
      { what: 'XML for another VM', member: 'Prepare', body: ['win10', vmXml('linux')], name: 'InvalidArgument', text: /for "linux" but the call names "win10"/ },
      { what: 'malformed XML', member: 'Prepare', body: ['win10', '<domain><name>win10</name>'], name: 'InvalidArgument', text: /^the domain XML is not well-formed at line 1, column 1: / },
      { what: 'a DOCTYPE', member: 'Prepare', body: ['win10', '<!DOCTYPE d [<!ENTITY x "y">]><domain><name>win10</name></domain>'], name: 'InvalidArgument', text: /DOCTYPE/ },
      { what: 'oversized XML', member: 'Prepare', body: ['win10', vmXml('win10') + ' '.repeat(1024 * 1024)], name: 'InvalidArgument', text: /larger than 1024 KiB/ },
    ];
    for (const c of cases) {
      it(`${c.member} with ${c.what}: org.gpuhookd1.Error.${c.name}`, async () => {
        const before = dut.snapshot();
        const err = await callError(dut.call(c.member, 's'.repeat(c.body.length), c.body));
        assert.equal(err.name, `org.gpuhookd1.Error.${c.name}`, err.text);
        assert.match(err.text, c.text);
        assertOneSentence(err.text);
        assert.deepEqual(dut.snapshot(), before);
        await assertGpu({ Mode: 'host', Owner: '' });
      });
    }

    it('a transition already running makes a second one Busy, naming what it does', async () => {
      // The first function's unbind takes 1.5 s: the Detach below is in flight meanwhile.
      injectFault(dut.root, { path: 'sys/bus/pci/drivers/nouveau/unbind', effect: { kind: 'block', ms: 1500 }, times: 1 });
      const detach = dut.call('Detach', 's', [RTX]);
      await waitForMode('detaching');
      const err = await callError(dut.call('Attach', 's', [RTX]));
      assert.equal(err.name, 'org.gpuhookd1.Error.Busy');
      assert.match(err.text, /0000:01:00\.0 is detaching right now/);
      assertOneSentence(err.text);
      await detach;
      await dut.call('Attach', 's', [RTX]);
    });

    it('a kernel write that fails: Failed naming the device, step and cause; the host is restored and LastError tells it', async () => {
      const before = dut.snapshot();
      injectFault(dut.root, { path: 'sys/bus/pci/drivers/xhci_hcd/unbind', value: '0000:01:00.2', effect: { kind: 'fail', errno: 'EIO' } });
      const err = await callError(dut.call('Detach', 's', [RTX]));
      assert.equal(err.name, 'org.gpuhookd1.Error.Failed');
      assert.match(err.text, /detach of 0000:01:00\.0 failed at 'unbind 0000:01:00\.2 from xhci_hcd'.*EIO.*restored/);
      assertOneSentence(err.text);
      assert.deepEqual(dut.snapshot(), before);
      const props = await gpu();
      assert.equal(props.Mode, 'host');
      assert.equal(props.LastError, err.text);
    });

    it('setting a read-only property is refused by name, and the caller sees one sentence', async () => {
      const set = dut
        .connection()
        .call(new dbus.Message({ destination: BUS_NAME, path: MANAGER_PATH, interface: PROPERTIES, member: 'Set', signature: 'ssv', body: [MANAGER_IFACE, 'Status', new dbus.Variant('s', 'x')] }));
      const err = await callError(set);
      assert.equal(err.name, 'org.freedesktop.DBus.Error.InvalidArgs');
      assertOneSentence(err.text);
      assert.equal((await manager()).Status, 'idle: 1 GPU on host drivers');
    });

    it('a method the contract does not have, or wrong argument types, are refused by name', async () => {
      assert.equal((await callError(dut.call('Frobnicate'))).name, 'org.freedesktop.DBus.Error.UnknownMethod');
      assert.equal((await callError(dut.call('Detach', 'u', [1]))).name, 'org.freedesktop.DBus.Error.UnknownMethod');
    });
  });

  async function waitForMode(mode: string): Promise<void> {
    await waitFor(`Mode ${mode}`, async () => (await get(RTX_PATH, GPU_IFACE, 'Mode')) === mode, { intervalMs: 5 });
  }

  /** The GPU's properties named in `expected` have those values. */
  async function assertGpu(expected: Record<string, unknown>): Promise<void> {
    const props = await gpu();
    assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, props[k]])), expected);
  }
});

describe('gpu-hookd D-Bus API on a host whose GPU shares its IOMMU group with the NIC', function () {
  this.timeout(30_000);
  let dut: DaemonUnderTest;

  useDaemonUnderTest((started) => (dut = started), { scenario: 'shared-group' });

  it('Detach and Prepare answer NotViable naming the NIC, and leave the NIC on igb', async () => {
    const before = dut.snapshot();
    for (const [member, body] of [
      ['Detach', ['0000:01:00.0']],
      ['Prepare', ['win10', vmXml('win10', ['0000:01:00.0', '0000:01:00.1'])]],
    ] as const) {
      const err = await callError(dut.call(member, 's'.repeat(body.length), [...body]));
      assert.equal(err.name, 'org.gpuhookd1.Error.NotViable', `${member}: ${err.text}`);
      assert.match(err.text, /0000:02:00\.0/, member);
      assertOneSentence(err.text);
    }
    assert.deepEqual(dut.snapshot(), before);
    assert.equal(dut.sim.io.readLinkName('sys/bus/pci/devices/0000:02:00.0/driver'), 'igb');
    assert.deepEqual(await dut.properties(gpuObjectPath('0000:01:00.0'), GPU_IFACE).then((p) => [p.Mode, p.Owner]), ['host', '']);
  });
});

/** "gpu Mode=vfio", "TransitionStarted detach win10", "StepFinished", ...: what signals say, short, one entry per changed Mode/Owner/Status. */
function describeSignals(recorded: Recorded[]): string[] {
  return recorded.flatMap((s) => {
    if (s.member === 'PropertiesChanged') {
      const who = s.path === MANAGER_PATH ? 'manager' : 'gpu';
      return Object.entries(s.body[1] as Record<string, dbus.Variant>)
        .filter(([k]) => k === 'Mode' || k === 'Owner' || k === 'Status')
        .map(([k, v]) => `${who} ${k}=${String(v.value)}`);
    }
    if (s.member === 'TransitionStarted') return [`TransitionStarted ${String(s.body[1])} ${String(s.body[2])}`];
    if (s.member === 'TransitionFinished') return [`TransitionFinished ${String(s.body[1])} ${String(s.body[2])}`];
    return [s.member];
  });
}
