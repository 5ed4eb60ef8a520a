// The step kinds gpu-hookd ships. A new kind: one file in this folder, plus one line here.

import { StepRegistry } from '../step-executor';
import { registerHandoverSteps } from './handover-steps';
import { loadModuleStep } from './load-module';
import { probeDriverStep } from './probe-driver';
import { resetFunctionStep } from './reset-function';
import { setOverrideStep } from './set-override';
import { unbindDriverStep } from './unbind-driver';
import { waitVfioGroupStep } from './wait-vfio-group';

export function builtinStepRegistry(): StepRegistry {
  return registerHandoverSteps(new StepRegistry())
    .register('load-module', loadModuleStep)
    .register('set-override', setOverrideStep)
    .register('unbind-driver', unbindDriverStep)
    .register('probe-driver', probeDriverStep)
    .register('wait-vfio-group', waitVfioGroupStep)
    .register('reset-function', resetFunctionStep);
}
