// The step kinds of the single-GPU handover (handover-plan.ts), registered with the built-in ones so
// that a journal holding them can always be recovered.

import type { StepRegistry } from '../step-executor';
import { checkHoldersStep } from './check-holders';
import { endSessionsStep } from './end-sessions';
import { bindFirmwareFbStep, unbindFirmwareFbStep } from './unbind-firmware-fb';
import { bindVtconsoleStep, unbindVtconsoleStep } from './unbind-vtconsole';
import { loadModulesStep, unloadModulesStep } from './unload-modules';
import { startUnitStep, stopUnitStep } from './stop-unit';

export function registerHandoverSteps(registry: StepRegistry): StepRegistry {
  return registry
    .register('stop-unit', stopUnitStep)
    .register('start-unit', startUnitStep)
    .register('end-sessions', endSessionsStep)
    .register('check-holders', checkHoldersStep)
    .register('unbind-vtconsole', unbindVtconsoleStep)
    .register('bind-vtconsole', bindVtconsoleStep)
    .register('unbind-firmware-fb', unbindFirmwareFbStep)
    .register('bind-firmware-fb', bindFirmwareFbStep)
    .register('unload-modules', unloadModulesStep)
    .register('load-modules', loadModulesStep);
}
