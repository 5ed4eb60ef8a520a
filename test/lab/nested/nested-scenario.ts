// The nested scenario: one boot of the SeaBIOS/bochs-drm machine in which the guest gives its
// GPU-like card to a VM of its own (nested QEMU, TCG) and takes it back, with gpu-hookd's engine.

import type { LabScenario } from '../lab-scenarios';
import { SEABIOS_BOCHS } from '../lab-scenarios';
import { bootLab, type LabBoot } from '../runner/lab-boot';
import { prepareLabImage } from '../runner/lab-image';
import { GUEST_GPU, GUEST_GPU_AUDIO } from '../runner/qemu-machine';
import type { NestedJob } from './nested-job';
import { prepareNestedSysroot } from './nested-sysroot';

export const NESTED_SHARE_TAG = 'nested';

export const NESTED_JOB: NestedJob = {
  kind: 'nested',
  gpu: GUEST_GPU,
  audio: GUEST_GPU_AUDIO,
  settle: { [GUEST_GPU]: 'bochs-drm', [GUEST_GPU_AUDIO]: 'snd_hda_intel' },
  sysrootTag: NESTED_SHARE_TAG,
  nestedTimeoutMs: 120_000,
  writeTimeoutMs: 3_000,
};

export const NESTED_PASSTHROUGH: Pick<LabScenario, 'name' | 'proves' | 'machine'> & { job: NestedJob } = {
  name: 'nested-passthrough',
  proves:
    'a nested QEMU takes both functions gpu-hookd detached (MMIO and DMA from its guest) and gives them back; ' +
    'the kernel and the sysfs rule agree on viability; attach waits for the VM to let go',
  machine: SEABIOS_BOCHS.machine,
  job: NESTED_JOB,
};

/** Boot, agent and a few nested QEMU runs under TCG: about a minute; this bounds a stuck guest. */
export const NESTED_BOOT_TIMEOUT_MS = 300_000;

/** Prepares the lab image and the nested sysroot (cached), boots the scenario once. */
export async function bootNested(): Promise<LabBoot> {
  const image = await prepareLabImage();
  const sysroot = await prepareNestedSysroot(image.cacheDir);
  const { name, machine, job } = NESTED_PASSTHROUGH;
  return bootLab(image, name, machine, job, NESTED_BOOT_TIMEOUT_MS, { [NESTED_SHARE_TAG]: { dir: sysroot.dir, writable: false } });
}
