// A GPU whose IOMMU group also holds the host's NIC (the simulated shared-group host: GTX 1050 Ti and
// an I211 on igb, interface enp2s0), through a REAL libvirtd running our hook and the REAL daemon on
// a private bus. The refusal's advice ("give the VM that device too") must be one a user can follow:
// a domain that names the NIC as well gets the whole group and starts; one that names only the GPU is
// refused naming the interface. Domains that must run declare their devices in our metadata (QEMU
// cannot open a simulated device); with <hostdev>s, prepare moves the group and libvirt then refuses
// the start itself (no IOMMU on this machine).

import assert from 'node:assert/strict';
import type { Libvirt } from '../../support/libvirt-harness';
import { safeDomainXml, type TestDomainSpec } from '../../support/safe-domain';
import { GpuHost, startLibvirtWithHook, stopLibvirtAndHost } from './gpu-host';

const GPU = '0000:01:00.0';
const NIC = '0000:02:00.0';
const GROUP = [GPU, '0000:01:00.1', NIC];
const HOST_DRIVERS = ['nouveau', 'snd_hda_intel', 'igb'];

function metadata(addresses: string[]): string {
  return `<hookd:vm xmlns:hookd='https://gpuhookd.org/xmlns/vm/1'>${addresses.map((a) => `<hookd:gpu address='${a}'/>`).join('')}</hookd:vm>`;
}

describe('virsh start of a GPU whose IOMMU group holds the host NIC', function () {
  this.timeout(120_000);
  let host: GpuHost;
  let lv: Libvirt;
  let stopLibvirt: (() => Promise<void>) | undefined;
  let defined: string[] = [];

  before(async function () {
    this.timeout(360_000);
    // lightdm (640) and its Xorg (702) draw the desktop on the GTX: the daemon hands it over.
    host = await GpuHost.start({ scenario: 'shared-group', desktop: { dmPids: [640, 702] } });
    ({ lv, stop: stopLibvirt } = await startLibvirtWithHook(host));
  });

  after(() => stopLibvirtAndHost(stopLibvirt, host));

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.log(`--- gpu-hookd log ---\n${host.daemonLog().slice(-8000)}`);
    for (const name of defined) await lv.virsh(['destroy', name]);
    defined = [];
  });

  async function define(name: string, spec: Omit<TestDomainSpec, 'name'>): Promise<string> {
    const name_ = await lv.defineDomain(safeDomainXml({ name, ...spec }));
    defined.push(name_);
    return name_;
  }

  const drivers = (): string[] => GROUP.map((f) => host.daemon.sim.io.readLinkName(`sys/bus/pci/devices/${f}/driver`) ?? '');
  const interfaceShown = (): boolean => host.daemon.sim.io.exists('sys/class/net/enp2s0');

  it('a domain that names only the GPU is refused, naming the NIC and its interface; the host is unchanged', async () => {
    const name = await define('gpuhookd-e2e-shared-gpu-only', { metadata: metadata([GPU]) });
    const before = host.pciState();
    const start = await lv.virsh(['start', name]);
    assert.equal(start.code, 1);
    const m = /unexpected exit status 1: (.*)$/m.exec(start.stderr);
    assert.ok(m, start.stderr);
    assert.match(m[1], new RegExp(`^gpu-hookd: detach of ${GPU} refused before any change: ${NIC} \\(.*I211.* on igb: interface enp2s0\\) shares IOMMU group 1`));
    assert.match(m[1], new RegExp(`give the VM that device too \\(virsh edit: a <hostdev mode='subsystem' type='pci'> for ${NIC}\\)`));
    assert.deepEqual(host.pciState(), before);
    assert.ok(interfaceShown());
  });

  it('a domain that names the whole group starts with it on vfio-pci; destroy gives the NIC and the GPU back', async () => {
    const name = await define('gpuhookd-e2e-shared-all', { metadata: metadata([GPU, NIC]) });
    const before = host.pciState();
    const start = await lv.virsh(['start', name]);
    assert.equal(start.code, 0, start.stderr);
    assert.equal((await lv.virsh(['domstate', name])).stdout.trim(), 'running');
    assert.deepEqual(drivers(), GROUP.map(() => 'vfio-pci'));
    assert.equal(interfaceShown(), false, 'enp2s0 is the VM\'s while it runs');
    assert.equal((await lv.virsh(['destroy', name])).code, 0);
    defined = [];
    assert.deepEqual(drivers(), HOST_DRIVERS);
    assert.ok(interfaceShown(), 'enp2s0 is back');
    assert.deepEqual(host.pciState(), before);
  });

  it('a domain with both as <hostdev>s: prepare moves the whole group, release after libvirt\'s own refusal gives it back', async () => {
    const name = await define('gpuhookd-e2e-shared-hostdevs', { hostdevs: [{ address: GPU, managed: true }, { address: NIC, managed: true }] });
    const before = host.pciState();
    const start = await lv.virsh(['start', name]);
    // This machine has no IOMMU: libvirt refuses the passthrough itself, after our prepare.
    assert.equal(start.code, 1);
    assert.doesNotMatch(start.stderr, /gpu-hookd/);
    assert.deepEqual(host.pciState(), before);
  });
});
