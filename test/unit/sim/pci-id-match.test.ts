import assert from 'node:assert/strict';
import { idMatches, parseIdPattern, parseNewId, PCI_ANY_ID } from '../../../src/sim/pci-id-match';
import { formatCpuList, parseCpuList } from '../../../src/sim/sysfs-layout';
import { globMatch } from '../../../src/sim/faults';
import { cpuLayout } from '../../../src/sim/cpu-model';
import { loadScenario } from '../../../src/sim/scenarios';

const rtxAudio = { vendor: '10de', device: '10f9', subsystemVendor: '1043', subsystemDevice: '8676', class: '040300' };

describe('PCI id matching', () => {
  it('matches vendor, device and a class prefix as a driver table does', () => {
    const entry = (p: string) => parseIdPattern(p) ?? assert.fail(p);
    assert.ok(idMatches(entry('*:*:0403'), rtxAudio));
    assert.ok(idMatches(entry('10de:10f9'), rtxAudio));
    assert.ok(idMatches(entry('10de:*'), rtxAudio));
    assert.ok(!idMatches(entry('10de:*:03'), rtxAudio));
    assert.ok(!idMatches(entry('8086:10f9'), rtxAudio));
    assert.equal(parseIdPattern('10de:10f9:4'), null);
  });

  it('parses new_id as the kernel does: two to seven hex fields', () => {
    assert.deepEqual(parseNewId('10de 10f9\n'), { vendor: 0x10de, device: 0x10f9, subvendor: PCI_ANY_ID, subdevice: PCI_ANY_ID, class: 0, classMask: 0 });
    assert.equal(parseNewId('10de'), null);
    assert.equal(parseNewId('10de zz'), null);
    const withClass = parseNewId('10de ffffffff ffffffff ffffffff 040300 ffffff') ?? assert.fail();
    assert.ok(idMatches(withClass, rtxAudio));
    assert.ok(!idMatches(withClass, { ...rtxAudio, class: '030000' }));
  });
});

describe('cpu lists and topology', () => {
  it('formats and parses cpu lists as the kernel prints them', () => {
    assert.equal(formatCpuList([8, 0, 1, 2, 3, 10]), '0-3,8,10');
    assert.deepEqual(parseCpuList('0-2,8\n'), [0, 1, 2, 8]);
    assert.equal(parseCpuList('3-1'), null);
    assert.equal(parseCpuList('a'), null);
  });

  it('numbers the seed\'s threads as x86 firmware does: cpuN and cpuN+8 share a core', () => {
    const layout = cpuLayout(loadScenario('seed').cpu);
    assert.equal(layout.length, 16);
    const core0 = layout.filter((p) => p.core === 0).map((p) => p.cpu);
    assert.deepEqual(core0, [0, 8]);
  });

  it('puts hybrid P-core siblings next to each other and E-cores alone', () => {
    const layout = cpuLayout(loadScenario('two-gpu').cpu);
    assert.equal(layout.length, 20);
    assert.deepEqual(layout.filter((p) => p.core === 0).map((p) => p.cpu), [0, 1]);
    assert.deepEqual(layout.filter((p) => p.kind === 'atom').map((p) => p.cpu), [16, 17, 18, 19]);
  });

  it('gives each socket its own package on the 2-socket server', () => {
    const layout = cpuLayout(loadScenario('server-8gpu').cpu);
    assert.equal(layout.length, 64);
    assert.deepEqual([...new Set(layout.map((p) => p.pkg))], [0, 1]);
    assert.equal(layout.find((p) => p.cpu === 16)?.pkg, 1);
  });
});

describe('fault rule globs', () => {
  it('matches within a path component with * and across with **', () => {
    assert.ok(globMatch('sys/bus/pci/devices/*/driver_override', 'sys/bus/pci/devices/0000:01:00.1/driver_override', true));
    assert.ok(!globMatch('sys/bus/pci/*/driver_override', 'sys/bus/pci/devices/0000:01:00.1/driver_override', true));
    assert.ok(globMatch('sys/**/unbind', 'sys/bus/pci/drivers/vfio-pci/unbind', true));
    assert.ok(globMatch('0000:01:00.*', '0000:01:00.3', false));
    assert.ok(!globMatch('0000:01:00.0', '0000:01:00.3', false));
  });
});
