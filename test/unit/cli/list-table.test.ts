import assert from 'node:assert/strict';
import type { GpuListing, GroupMember, ListReport, MemberRole } from '../../../src/cli/list-report';
import { fn } from '../engine/gpu-fixture';
import { readyHostFacts } from '../host/preflight-fixture';
import { columns, renderListTable } from '../../../src/cli/list-table';

const facts = readyHostFacts();

function member(address: string, role: MemberRole, driver: string | null, name: string, module: string | null = driver): GroupMember {
  const isBridge = role === 'bridge';
  return { ...fn(address, driver, { isBridge, headerType: isBridge ? 1 : 0, driverModule: module, bootVga: role === 'display', iommuGroup: '1', name }), role, uses: '', leftover: '' };
}

function listing(overrides: Partial<GpuListing> = {}): GpuListing {
  return {
    address: '0000:01:00.0',
    name: 'NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]',
    bootVga: true,
    iommuGroup: '1',
    functions: ['0000:01:00.0', '0000:01:00.1'],
    members: [
      member('0000:01:00.0', 'display', 'nouveau', 'NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]'),
      member('0000:01:00.1', 'function', 'nvidia-gpu', 'NVIDIA Corporation TU106 USB Type-C UCSI Controller', 'i2c_nvidia_gpu'),
    ],
    viability: { viable: true },
    readyNow: { viable: false, culprit: '0000:01:00.0', reason: 'x' },
    readyNowFrom: 'sysfs',
    inUse: false,
    resets: {
      functions: [
        { address: '0000:01:00.0', methods: ['flr', 'bus'], source: 'kernel', resettable: true },
        { address: '0000:01:00.1', methods: [], source: 'kernel', resettable: false },
      ],
      slotResetBridge: null,
      displayWorking: ['flr'],
      usable: true,
      vendorResetFamily: null,
      vendorResetActive: false,
    },
    resetRisk: null,
    ...overrides,
  };
}

function report(gpus: GpuListing[], more: Partial<ListReport> = {}): ListReport {
  return { root: '/', preflight: facts, problems: [], gpus, gpusWithoutGroup: [], ...more };
}

describe('gpu-hookctl list table', () => {
  it('aligns columns and never pads the last one', () => {
    assert.deepEqual(columns([['a', 'bbb', 'c'], ['aaaa', 'b', 'last one']]), ['a     bbb  c', 'aaaa  b    last one']);
  });

  it('shows the host summary, the GPU with boot VGA, its verdict, and one row per member', () => {
    const text = renderListTable(report([listing()]));
    assert.equal(
      text,
      [
        'IOMMU groups: 14 (intel_iommu=on iommu=pt)  |  vfio-pci: loaded  |  /dev/vfio/vfio: present  |  CPU virtualization: vmx',
        '',
        'GPU 0000:01:00.0  NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]  [boot VGA]',
        '  IOMMU group 1: viable, the GPU can be given to a VM',
        '  now: on host drivers',
        '  FUNCTION      ID         DRIVER                       OVERRIDE  RESET    ROLE            NAME',
        '  0000:01:00.0  10de:1f08  nouveau                      -         flr,bus  GPU             NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]',
        '  0000:01:00.1  10de:1f08  nvidia-gpu (i2c_nvidia_gpu)  -         none     moves with GPU  NVIDIA Corporation TU106 USB Type-C UCSI Controller',
        '',
      ].join('\n'),
    );
  });

  it('says why a group is not viable and what to do', () => {
    const text = renderListTable(
      report([listing({ viability: { viable: false, culprit: '0000:02:00.0', reason: '(I211 on igb) shares IOMMU group 1 with 0000:01:00.0 and would be taken from igb' } })]),
    );
    assert.match(text, /IOMMU group 1: NOT viable: 0000:02:00\.0 \(I211 on igb\) shares IOMMU group 1 .*; give the VM that device too/);
  });

  it('never says "on host drivers" while a function of the card is on vfio-pci, and names what another tool left', () => {
    const left = { ...member('0000:01:00.1', 'function', 'vfio-pci', 'UCSI', 'vfio_pci'), driverOverride: 'vfio-pci', leftover: 'on vfio-pci by driver_override' };
    const text = renderListTable(report([listing({ members: [listing().members[0], left] })]));
    assert.doesNotMatch(text, /now: on host drivers/);
    assert.match(text, /^ {2}now: partly on vfio-pci \(0000:01:00\.1\), partly on host drivers$/m);
    assert.match(text, /^ {2}not on a host driver of its own: 0000:01:00\.1 on vfio-pci by driver_override; given back, each goes to the driver the kernel chooses$/m);
  });

  it('names the interface or disk of a member the host uses', () => {
    const nic = { ...member('0000:02:00.0', 'shared', 'igb', 'I211'), uses: 'interface enp2s0' };
    assert.match(renderListTable(report([listing({ members: [listing().members[0], nic] })])), /^ {2}0000:02:00\.0 .* {2}igb .* {2}not the card {2}I211 \(interface enp2s0\)$/m);
  });

  it('says when the kernel finds the group held open by a running VM', () => {
    const text = renderListTable(report([listing({ readyNow: { viable: true }, readyNowFrom: 'kernel', inUse: true })]));
    assert.match(text, /^ {2}now: in use, a process \(a running VM\) holds the group open$/m);
  });

  it('shows a reset through the bridge, a warning for a GPU known to come back broken, and methods only root can read', () => {
    const base = listing();
    const text = renderListTable(
      report([
        listing({
          resets: {
            ...base.resets,
            functions: [{ address: '0000:01:00.0', methods: [], source: 'unknown', resettable: true }, base.resets.functions[1]],
            slotResetBridge: '0000:00:01.0',
          },
          resetRisk: '0000:01:00.0 is an AMD Polaris 10 card, which the kernel cannot reset by itself: install vendor-reset',
        }),
      ]),
    );
    assert.match(text, /^ {2}reset: the card's bus can be reset through 0000:00:01\.0$/m);
    assert.match(text, /^ {2}reset: WARNING: 0000:01:00\.0 is an AMD Polaris 10 card, .*: install vendor-reset$/m);
    assert.match(text, /^ {2}0000:01:00\.0 .* some \(root sees which\) +GPU /m);
  });

  it('prints preflight problems, the absence of GPUs, and GPUs without a group', () => {
    const noGpu = renderListTable(report([], { problems: ['the kernel made no IOMMU groups: enable VT-d'] }));
    assert.match(noGpu, /^problem: the kernel made no IOMMU groups: enable VT-d$/m);
    assert.match(noGpu, /No GPU found/);
    const ungrouped = renderListTable(report([], { gpusWithoutGroup: [member('0000:01:00.0', 'display', null, 'Some GPU')] }));
    assert.doesNotMatch(ungrouped, /No GPU found/);
    assert.match(ungrouped, /no IOMMU group[^\n]*\n {2}0000:01:00\.0 {2}10de:1f08 {2}- {2}Some GPU$/m);
  });
});
