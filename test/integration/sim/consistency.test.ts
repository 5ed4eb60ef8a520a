// The check that a simulated host's tree and model agree: silent on every built-in scenario as built
// and after transitions, and it names each kind of disagreement a half-done kernel operation leaves.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { simHostDisagreements } from '../../../src/sim/consistency';
import { builtinScenarioNames, loadScenario } from '../../../src/sim/scenarios';
import { createSimHost } from '../../../src/sim/sim-host';

describe('simHostDisagreements', function () {
  this.timeout(60_000);

  it('finds none on every built-in scenario as it boots', async () => {
    for (const name of builtinScenarioNames()) {
      const host = await createSimHost(loadScenario(name), { zeroDelays: true });
      try {
        assert.deepEqual(simHostDisagreements(host.root), [], name);
      } finally {
        await host.dispose();
      }
    }
  });

  it('names a driver link, a driver_override, a module and a vtconsole that the model does not show', async () => {
    const host = await createSimHost(loadScenario('seed'), { zeroDelays: true });
    try {
      await host.io.write('sys/bus/pci/devices/0000:01:00.1/driver/unbind', '0000:01:00.1');
      assert.deepEqual(simHostDisagreements(host.root), [], 'an emulated write keeps them agreeing');
      const abs = (rel: string): string => path.join(host.root, rel);
      fs.rmSync(abs('sys/bus/pci/devices/0000:01:00.0/driver'));
      fs.writeFileSync(abs('sys/bus/pci/devices/0000:01:00.2/driver_override'), 'vfio-pci\n');
      fs.writeFileSync(abs('proc/modules'), '');
      fs.writeFileSync(abs('sys/class/vtconsole/vtcon1/bind'), '0\n');
      const found = simHostDisagreements(host.root).join('\n');
      assert.match(found, /0000:01:00\.0: the model says driver nouveau, the tree's driver link says none/);
      assert.match(found, /0000:01:00\.2: driver_override reads vfio-pci, the model says \(null\)/);
      assert.match(found, /proc\/modules lists , the model has .*nouveau/);
      assert.match(found, /vtcon1 reads \(M\) frame buffer device\/0, the model says \(M\) frame buffer device\/1/);
    } finally {
      await host.dispose();
    }
  });
});
