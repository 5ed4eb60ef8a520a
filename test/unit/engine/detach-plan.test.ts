import assert from 'node:assert/strict';
import { planDetach } from '../../../src/engine/detach-plan';
import { EngineError } from '../../../src/engine/engine-error';
import { builtinStepRegistry } from '../../../src/engine/steps/builtin-steps';
import { fn, gpuOf, seedFunctions } from './gpu-fixture';

const viable = { viable: true } as const;
const describeAll = (plan: ReturnType<typeof planDetach>): string[] => plan.map((s) => builtinStepRegistry().describe(s));

describe('detach plan', () => {
  it('moves every function: override, unbind, probe per function, then waits for the group node', () => {
    const plan = planDetach(gpuOf(seedFunctions()), { vfioPciLoaded: true, viability: viable });
    assert.deepEqual(describeAll(plan), [
      'set driver_override of 0000:01:00.0 to vfio-pci',
      'unbind 0000:01:00.0 from nouveau',
      'probe 0000:01:00.0 for vfio-pci',
      'set driver_override of 0000:01:00.1 to vfio-pci',
      'unbind 0000:01:00.1 from snd_hda_intel',
      'probe 0000:01:00.1 for vfio-pci',
      'set driver_override of 0000:01:00.2 to vfio-pci',
      'unbind 0000:01:00.2 from xhci_hcd',
      'probe 0000:01:00.2 for vfio-pci',
      'set driver_override of 0000:01:00.3 to vfio-pci',
      'unbind 0000:01:00.3 from ucsi_ccg',
      'probe 0000:01:00.3 for vfio-pci',
      'wait for /dev/vfio/12',
    ]);
  });

  it('loads vfio-pci first when it is not registered, and never unloads it on undo', () => {
    const plan = planDetach(gpuOf(seedFunctions()), { vfioPciLoaded: false, viability: viable });
    assert.deepEqual(plan[0], { kind: 'load-module', module: 'vfio_pci', driver: 'vfio-pci', keepLoaded: true });
    assert.equal(plan.filter((s) => s.kind === 'load-module').length, 1);
  });

  it('remembers the previous override so that undo can restore it before binding back', () => {
    const functions = seedFunctions();
    functions[1] = fn('0000:01:00.1', 'snd_hda_intel', { driverOverride: 'snd_hda_intel' });
    const plan = planDetach(gpuOf(functions), { vfioPciLoaded: true, viability: viable });
    assert.deepEqual(plan[3], { kind: 'set-override', device: '0000:01:00.1', value: 'vfio-pci', previous: 'snd_hda_intel' });
    assert.deepEqual(plan[4], { kind: 'unbind-driver', device: '0000:01:00.1', driver: 'snd_hda_intel', restoreOverride: 'snd_hda_intel' });
  });

  it('leaves functions already on vfio-pci alone and only overrides and probes unbound ones', () => {
    const functions = [
      fn('0000:01:00.0', 'vfio-pci', { driverOverride: 'vfio-pci' }),
      fn('0000:01:00.1', null),
      fn('0000:01:00.2', 'xhci_hcd', { driverOverride: 'vfio-pci' }),
    ];
    assert.deepEqual(describeAll(planDetach(gpuOf(functions), { vfioPciLoaded: true, viability: viable })), [
      'set driver_override of 0000:01:00.1 to vfio-pci',
      'probe 0000:01:00.1 for vfio-pci',
      'unbind 0000:01:00.2 from xhci_hcd',
      'probe 0000:01:00.2 for vfio-pci',
      'wait for /dev/vfio/12',
    ]);
  });

  it('is empty when the whole group already is on vfio-pci (detach twice changes nothing)', () => {
    const functions = seedFunctions().map((f) => ({ ...f, driver: 'vfio-pci', driverOverride: 'vfio-pci' }));
    assert.deepEqual(planDetach(gpuOf(functions), { vfioPciLoaded: false, viability: viable }), []);
  });

  it('refuses a non-viable group before any step, naming the culprit', () => {
    const viability = { viable: false as const, culprit: '0000:02:00.0', reason: '(I211 on igb) shares IOMMU group 12' };
    assert.throws(
      () => planDetach(gpuOf(seedFunctions()), { vfioPciLoaded: true, viability }),
      (e: unknown) => e instanceof EngineError && e.code === 'NotViable' && /0000:02:00\.0/.test(e.message) && /refused before any change/.test(e.message),
    );
  });

  it('refuses a GPU the kernel put in no IOMMU group', () => {
    assert.throws(
      () => planDetach(gpuOf(seedFunctions(), null), { vfioPciLoaded: true, viability: viable }),
      (e: unknown) => e instanceof EngineError && e.code === 'NotViable' && /no IOMMU groups/.test(e.message),
    );
  });

  it('is plain data that survives a JSON round trip (the journal stores it)', () => {
    const plan = planDetach(gpuOf(seedFunctions()), { vfioPciLoaded: false, viability: viable });
    assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan);
  });
});
