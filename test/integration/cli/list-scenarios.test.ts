import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ListReport } from '../../../src/cli/list-report';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import { loadScenario } from '../../../src/sim/scenarios';
import { FIXTURE_PCI_IDS } from '../host/fixture-host';
import { describeEachScenario, expectedGpus } from '../host/scenario-oracle';
import { hookctl } from './hookctl';

describe('gpu-hookctl list (process) on every built-in simulated host', () => {
  describeEachScenario((scenario, sim) => {
    it('prints a block per GPU with its group verdict, and exits 0', () => {
      const r = hookctl('list', '--root', sim().root);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
      const blocks = r.stdout.split('\n').filter((l) => l.startsWith('GPU '));
      const expected = expectedGpus(scenario);
      assert.equal(blocks.length, expected.length);
      for (const gpu of expected) {
        const verdict = gpu.culprit === null ? 'viable' : `NOT viable: ${gpu.culprit} `;
        assert.match(r.stdout, new RegExp(`^GPU ${gpu.address} .*\\n {2}IOMMU group ${gpu.group}: ${verdict}`, 'm'));
      }
    });

    it('--json gives the same GPUs, functions and viability as valid JSON', () => {
      const r = hookctl('list', '--root', sim().root, '--json');
      assert.equal(r.code, 0);
      const report = JSON.parse(r.stdout) as ListReport;
      assert.deepEqual(
        report.gpus.map((g) => ({
          address: g.address,
          group: g.iommuGroup,
          functions: g.functions,
          drivers: Object.fromEntries(g.members.filter((m) => m.role !== 'bridge').map((m) => [m.address, m.driver])),
          bootVga: g.bootVga,
          culprit: g.viability.viable ? null : g.viability.culprit,
        })),
        expectedGpus(scenario),
      );
    });
  });

  describe('names from the pci.ids inside the simulated root', () => {
    let sim: SimHost;

    before(async () => {
      sim = await createSimHost(loadScenario('seed'), { zeroDelays: true });
      fs.mkdirSync(path.join(sim.root, 'usr/share/misc'), { recursive: true });
      fs.writeFileSync(path.join(sim.root, 'usr/share/misc/pci.ids'), FIXTURE_PCI_IDS);
    });
    after(async () => sim.dispose());

    it('shows the vendor and device names of every function', () => {
      const r = hookctl('list', '--root', sim.root);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^GPU 0000:01:00\.0 {2}NVIDIA Corporation TU106 \[GeForce RTX 2060 Rev\. A\] {2}\[boot VGA\]$/m);
      assert.match(r.stdout, /^ {2}0000:01:00\.3 .* {2}NVIDIA Corporation TU106 USB Type-C UCSI Controller$/m);
    });
  });
});
