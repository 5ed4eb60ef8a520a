// The config's timeouts in the engine's terms.

import type { EngineTimeouts } from '../engine/transition-engine';
import type { DaemonConfig } from './config-schema';

export function engineTimeouts(config: DaemonConfig): Partial<EngineTimeouts> {
  return {
    writeMs: config.timeouts.unbindMs,
    probeMs: config.timeouts.probeMs,
    vfioDeviceMs: config.timeouts.devVfioMs,
    unitJobMs: config.timeouts.displayManagerStopMs,
    giveBackResets: config.giveBack.resets,
    sessionEndMs: config.timeouts.sessionEndMs,
  };
}
