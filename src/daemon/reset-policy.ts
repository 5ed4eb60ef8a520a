// Prepare's look at how a GPU comes back, before the VM starts rather than after it stops: a GPU
// known to come back broken (gpu-resets.ts: a card vendor-reset exists for without it, or one the
// kernel cannot reset at all) is refused when the VM's resetRisk setting says "refuse", and named in
// the journal as a warning otherwise.

import type { GpuResets } from '../host/gpu-resets';
import { resetRisk } from '../host/gpu-resets';
import type { ResetRiskPolicy } from './config-schema';

export type ResetVerdict = { refuse: string } | { warn: string } | null;

export function resetVerdict(vm: string, gpu: string, resets: GpuResets, policy: ResetRiskPolicy): ResetVerdict {
  const risk = resetRisk(gpu, resets);
  if (!risk) return null;
  if (policy === 'refuse') {
    return {
      refuse:
        `VM ${vm} is refused before any change because ${risk.problem}, and its resetRisk setting is "refuse": ${risk.fix}; ` +
        `or set resetRisk to "warn" for ${vm} (config or domain metadata) to start it anyway`,
    };
  }
  return { warn: `VM ${vm} takes ${gpu}, which may not come back after it: ${risk.problem}: ${risk.fix}` };
}
