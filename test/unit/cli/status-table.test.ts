import assert from 'node:assert/strict';
import type { GpuStatus } from '../../../src/cli/daemon-client';
import { formatMs } from '../../../src/cli/duration';
import { driversText, renderStatusTable } from '../../../src/cli/status-table';

function gpu(overrides: Partial<GpuStatus> = {}): GpuStatus {
  return {
    path: '/org/gpuhookd1/gpu/0000_01_00_0',
    address: '0000:01:00.0',
    name: 'NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]',
    iommuGroup: '13',
    functions: ['0000:01:00.0', '0000:01:00.1'],
    drivers: { '0000:01:00.0': 'nouveau', '0000:01:00.1': 'snd_hda_intel' },
    hostDrivers: {},
    leftovers: {},
    mode: 'host',
    owner: '',
    lastError: '',
    bootVga: true,
    resetMethods: { '0000:01:00.0': ['flr'], '0000:01:00.1': [] },
    ...overrides,
  };
}

describe('gpu-hookctl status table', () => {
  it('the daemon\'s line, a header, and one aligned row per GPU with "-" for what is empty', () => {
    const text = renderStatusTable({ version: '0.1.0', status: 'idle: 1 GPU on host drivers', gpus: [gpu(), gpu({ address: '0000:02:00.0', name: 'AMD Navi', mode: 'vfio', owner: 'win10', drivers: { '0000:02:00.0': 'vfio-pci' }, functions: ['0000:02:00.0'] })] });
    assert.equal(
      text,
      [
        'gpu-hookd 0.1.0: idle: 1 GPU on host drivers',
        '',
        'ADDRESS       NAME                                                MODE  OWNER  DRIVERS                 LAST ERROR',
        '0000:01:00.0  NVIDIA Corporation TU106 [GeForce RTX 2060 Rev. A]  host  -      nouveau, snd_hda_intel  -',
        '0000:02:00.0  AMD Navi                                            vfio  win10  vfio-pci                -',
        '',
      ].join('\n'),
    );
  });

  it('a card partly on vfio-pci: mode mixed, and under the table each function another tool left and how it stands', () => {
    const text = renderStatusTable({
      version: '0.1.0',
      status: '0000:01:00.0 not all on host drivers: 0000:01:00.1 on vfio-pci by driver_override, not moved by gpu-hookd',
      gpus: [gpu({ mode: 'mixed', drivers: { '0000:01:00.0': 'nouveau', '0000:01:00.1': 'vfio-pci' }, leftovers: { '0000:01:00.1': 'on vfio-pci by driver_override, not moved by gpu-hookd' } })],
    });
    assert.match(text, /^0000:01:00\.0 {2}NVIDIA .* {2}mixed {2}- {6}nouveau, vfio-pci {2}-$/m);
    assert.match(text, /\n\nNot on a host driver of their own \(given back, each goes to the driver the kernel chooses\):\n {2}0000:01:00\.1 \(of 0000:01:00\.0\): on vfio-pci by driver_override, not moved by gpu-hookd\n$/);
  });

  it('says so when the daemon sees no GPU', () => {
    assert.match(renderStatusTable({ version: '0.1.0', status: 'idle: 0 GPUs on host drivers', gpus: [] }), /^No GPU with an IOMMU group on this host/m);
  });

  it('drivers: in function order, "(none)" for an unbound function, "4x vfio-pci" when all share one', () => {
    assert.equal(driversText(gpu({ drivers: { '0000:01:00.0': 'nouveau', '0000:01:00.1': '' } })), 'nouveau, (none)');
    const four = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
    assert.equal(driversText({ functions: four, drivers: Object.fromEntries(four.map((f) => [f, 'vfio-pci'])) }), '4x vfio-pci');
  });

  it('durations: a decimal below 10 ms, whole milliseconds up to a second, then seconds', () => {
    assert.deepEqual([0.04, 7.25, 9.96, 10.4, 999.4, 999.6, 1234].map(formatMs), ['0.0 ms', '7.3 ms', '10 ms', '10 ms', '999 ms', '1.00 s', '1.23 s']);
  });
});
