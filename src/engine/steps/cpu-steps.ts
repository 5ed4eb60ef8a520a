// The step kinds of CPU isolation and pinning. Two of them talk to things outside the kernel's files
// (systemd over D-Bus, QEMU's threads), so they are registered with what they need.

import type { ProcessAccess } from '../../cpu/process-access';
import type { StepRegistry } from '../step-executor';
import { allowedCpusStep, type AllowedCpusAccess } from './allowed-cpus';
import { cpuGovernorStep } from './governor';
import { irqAffinityStep } from './irq-affinity';
import { pinThreadStep } from './pin-threads';

export interface CpuStepDeps {
  systemd: AllowedCpusAccess;
  processes: ProcessAccess;
}

export function registerCpuSteps(registry: StepRegistry, deps: CpuStepDeps): StepRegistry {
  return registry
    .register('allowed-cpus', allowedCpusStep(deps.systemd))
    .register('cpu-governor', cpuGovernorStep)
    .register('irq-affinity', irqAffinityStep)
    .register('pin-thread', pinThreadStep(deps.processes));
}
