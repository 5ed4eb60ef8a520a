import assert from 'node:assert/strict';
import { validateConfigObject } from '../../../src/daemon/config';
import { engineTimeouts } from '../../../src/daemon/engine-timeouts';

describe('the config in the engine\'s terms', () => {
  it('carries the timeouts and the give-back\'s bound on resets', () => {
    const config = validateConfigObject({ timeouts: { probeMs: 750 }, giveBack: { resets: 0 } }, '/etc/gpu-hookd/config.json');
    assert.deepEqual(engineTimeouts(config), { writeMs: 10_000, probeMs: 750, vfioDeviceMs: 5_000, unitJobMs: 20_000, sessionEndMs: 3_000, giveBackResets: 0 });
  });
});
