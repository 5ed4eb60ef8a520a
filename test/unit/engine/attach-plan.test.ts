import assert from 'node:assert/strict';
import { planAttach } from '../../../src/engine/attach-plan';
import { EngineError } from '../../../src/engine/engine-error';
import { planWaves } from '../../../src/engine/plan-waves';
import { recordHostState } from '../../../src/engine/host-state';
import { builtinStepRegistry } from '../../../src/engine/steps/builtin-steps';
import type { PciDevice } from '../../../src/host/pci-device';
import { fn, seedFunctions } from './gpu-fixture';

const GPU = '0000:01:00.0';
const onVfio = (f: PciDevice): PciDevice => ({ ...f, driver: 'vfio-pci', driverModule: 'vfio_pci', driverOverride: 'vfio-pci' });
const hostDrivers = new Set(['nouveau', 'snd_hda_intel', 'xhci_hcd', 'ucsi_ccg']);
const describeAll = (plan: ReturnType<typeof planAttach>): string[] => plan.map((s) => builtinStepRegistry().describe(s));

describe('attach plan', () => {
  it('clears the override, unbinds from vfio-pci and probes for the recorded driver; the GPU binds before the functions that consume it', () => {
    const recorded = recordHostState(seedFunctions());
    const plan = planAttach(GPU, recorded, seedFunctions().map(onVfio), hostDrivers);
    assert.deepEqual(describeAll(plan), [
      'clear driver_override of 0000:01:00.0',
      'unbind 0000:01:00.0 from vfio-pci',
      'probe 0000:01:00.0 for nouveau',
      'clear driver_override of 0000:01:00.1',
      'unbind 0000:01:00.1 from vfio-pci',
      'clear driver_override of 0000:01:00.2',
      'unbind 0000:01:00.2 from vfio-pci',
      'clear driver_override of 0000:01:00.3',
      'unbind 0000:01:00.3 from vfio-pci',
      'probe 0000:01:00.1 for snd_hda_intel',
      'probe 0000:01:00.2 for xhci_hcd',
      'probe 0000:01:00.3 for ucsi_ccg',
    ]);
    assert.deepEqual(plan[1], { kind: 'unbind-driver', device: GPU, driver: 'vfio-pci', restoreOverride: 'vfio-pci' });
    // Side by side: the GPU's run first, every other function leaves vfio-pci beside it, then their probes go together.
    const runs = planWaves(plan, (spec) => builtinStepRegistry().executorFor(spec).functionLocal === true).map((w) => w.runs.map((r) => [r.first, r.last]));
    assert.deepEqual(runs, [[[0, 2], [3, 4], [5, 6], [7, 8]], [[9, 9], [10, 10], [11, 11]]]);
  });

  it('loads a recorded driver module that is not loaded, once, before the first probe that needs it', () => {
    const recorded = recordHostState([
      fn('0000:01:00.0', 'amdgpu'),
      fn('0000:01:00.1', 'snd_hda_intel'),
      fn('0000:01:00.2', 'amdgpu'),
    ]);
    const current = recorded.map((r) => onVfio(fn(r.address, null)));
    const plan = planAttach(GPU, recorded, current, new Set(['snd_hda_intel']));
    assert.deepEqual(describeAll(plan), [
      'clear driver_override of 0000:01:00.0',
      'unbind 0000:01:00.0 from vfio-pci',
      'load kernel module amdgpu',
      'probe 0000:01:00.0 for amdgpu',
      'clear driver_override of 0000:01:00.1',
      'unbind 0000:01:00.1 from vfio-pci',
      'clear driver_override of 0000:01:00.2',
      'unbind 0000:01:00.2 from vfio-pci',
      'probe 0000:01:00.1 for snd_hda_intel',
      'probe 0000:01:00.2 for amdgpu',
    ]);
    assert.deepEqual(plan[2], { kind: 'load-module', module: 'amdgpu', driver: 'amdgpu', keepLoaded: false });
    // Recorded with the GPU last, the module still loads before the GPU's probe.
    const gpuLast = describeAll(planAttach(GPU, [recorded[2], recorded[1], recorded[0]], current, new Set(['snd_hda_intel'])));
    assert.ok(gpuLast.indexOf('load kernel module amdgpu') < gpuLast.indexOf('probe 0000:01:00.0 for amdgpu'));
    assert.equal(gpuLast.filter((d) => d.startsWith('load')).length, 1);
  });

  it('after a partial detach restores only what was changed', () => {
    const recorded = recordHostState(seedFunctions());
    const current = seedFunctions();
    current[0] = onVfio(current[0]);
    current[1] = { ...current[1], driver: null, driverOverride: 'vfio-pci' };
    current[2] = { ...current[2], driverOverride: 'vfio-pci' };
    assert.deepEqual(describeAll(planAttach(GPU, recorded, current, hostDrivers)), [
      'clear driver_override of 0000:01:00.0',
      'unbind 0000:01:00.0 from vfio-pci',
      'probe 0000:01:00.0 for nouveau',
      'clear driver_override of 0000:01:00.1',
      'clear driver_override of 0000:01:00.2',
      'probe 0000:01:00.1 for snd_hda_intel',
    ]);
  });

  it('is empty when every function is back already (attach twice changes nothing)', () => {
    assert.deepEqual(planAttach(GPU, recordHostState(seedFunctions()), seedFunctions(), hostDrivers), []);
  });

  it('gives a function that had no host driver to the driver the kernel chooses', () => {
    const recorded = recordHostState([fn('0000:01:00.0', 'nouveau'), fn('0000:01:00.3', null)]);
    const current = [onVfio(fn('0000:01:00.0', null)), onVfio(fn('0000:01:00.3', null))];
    assert.deepEqual(describeAll(planAttach(GPU, recorded, current, hostDrivers)), [
      'clear driver_override of 0000:01:00.0',
      'unbind 0000:01:00.0 from vfio-pci',
      'probe 0000:01:00.0 for nouveau',
      'clear driver_override of 0000:01:00.3',
      'unbind 0000:01:00.3 from vfio-pci',
      'probe 0000:01:00.3 for the driver the kernel chooses',
    ]);
  });

  describe("another tool's leftovers", () => {
    const cases: [string, Partial<PciDevice>][] = [
      ['on vfio-pci by driver_override', { driver: 'vfio-pci', driverModule: 'vfio_pci', driverOverride: 'vfio-pci' }],
      ['on vfio-pci by its ids (ids= or new_id)', { driver: 'vfio-pci', driverModule: 'vfio_pci', driverOverride: null }],
      ['unbound', { driver: null, driverModule: null, driverOverride: null }],
      ['unbound with a driver_override of vfio-pci', { driver: null, driverModule: null, driverOverride: 'vfio-pci' }],
    ];
    for (const [what, found] of cases) {
      it(`${what}: recorded with no host driver and no override, and given to the kernel's choice`, () => {
        const before = fn('0000:01:00.1', null, found);
        const [recorded] = recordHostState([before]);
        assert.deepEqual(recorded, { address: before.address, driver: null, driverModule: null, driverOverride: null, leftover: { driver: found.driver, driverOverride: found.driverOverride } });
        const plan = planAttach(GPU, [recorded], [onVfio(fn('0000:01:00.1', null))], hostDrivers);
        assert.deepEqual(plan.at(-1), { kind: 'probe-driver', device: '0000:01:00.1', expect: null, leftover: recorded.leftover });
        assert.ok(!plan.some((s) => s.kind === 'set-override' && s.value !== null), 'no override is put back');
      });
    }

    it('a host driver with a driver_override of vfio-pci left set: that driver is its host driver, the override is cleared', () => {
      const [recorded] = recordHostState([fn('0000:01:00.1', 'snd_hda_intel', { driverOverride: 'vfio-pci' })]);
      assert.equal(recorded.driver, 'snd_hda_intel');
      assert.equal(recorded.driverOverride, null);
      assert.deepEqual(describeAll(planAttach(GPU, [recorded], [onVfio(fn('0000:01:00.1', null))], hostDrivers)), [
        'clear driver_override of 0000:01:00.1',
        'unbind 0000:01:00.1 from vfio-pci',
        'probe 0000:01:00.1 for snd_hda_intel',
      ]);
    });

    it('a leftover a host driver took meanwhile keeps it', () => {
      const recorded = recordHostState([fn('0000:01:00.1', 'vfio-pci', { driverOverride: null })]);
      assert.deepEqual(planAttach(GPU, recorded, [fn('0000:01:00.1', 'snd_hda_intel')], hostDrivers), []);
    });
  });

  it('restores a driver_override the host had set before', () => {
    const recorded = recordHostState([fn('0000:01:00.1', 'snd_hda_intel', { driverOverride: 'snd_hda_intel' })]);
    const plan = planAttach(GPU, recorded, [onVfio(fn('0000:01:00.1', null))], hostDrivers);
    assert.deepEqual(plan[0], { kind: 'set-override', device: '0000:01:00.1', value: 'snd_hda_intel', previous: 'vfio-pci' });
  });

  it('refuses, before any step, when a recorded function has left the group', () => {
    const recorded = recordHostState(seedFunctions());
    assert.throws(
      () => planAttach(GPU, recorded, seedFunctions().slice(0, 3).map(onVfio), hostDrivers),
      (e: unknown) => e instanceof EngineError && e.code === 'NotFound' && /0000:01:00\.3/.test(e.message),
    );
  });
});
