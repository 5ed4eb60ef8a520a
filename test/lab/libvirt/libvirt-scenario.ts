// The libvirt-in-guest boot: the SeaBIOS/bochs-drm machine with a fifth 9p share holding the
// libvirt sysroot; inside, libvirt starts a domain that takes the card through gpu-hookd's hook.

import { SEABIOS_BOCHS } from '../lab-scenarios';
import { prepareLibvirtSysroot, type LibvirtSysroot } from '../nested/libvirt-sysroot';
import { bootLab, type LabBoot } from '../runner/lab-boot';
import { prepareLabImage } from '../runner/lab-image';
import { GUEST_GPU, GUEST_GPU_AUDIO } from '../runner/qemu-machine';
import type { LibvirtJob } from './libvirt-job';

export const LIBVIRT_SHARE_TAG = 'libvirt';

export const LIBVIRT_JOB: LibvirtJob = {
  kind: 'libvirt',
  gpu: GUEST_GPU,
  audio: GUEST_GPU_AUDIO,
  settle: { [GUEST_GPU]: 'bochs-drm', [GUEST_GPU_AUDIO]: 'snd_hda_intel' },
  sysrootTag: LIBVIRT_SHARE_TAG,
  // Each step takes seconds (virsh start with libvirt's QEMU probe ~5 s); the rest is for a loaded machine.
  stepTimeoutMs: 120_000,
};

/** Four daemons, a capability probe and a nested VM, all under TCG: this bounds a stuck guest. */
export const LIBVIRT_BOOT_TIMEOUT_MS = 900_000;

export async function bootLibvirtInGuest(): Promise<LabBoot & { sysroot: LibvirtSysroot }> {
  const image = await prepareLabImage();
  const sysroot = await prepareLibvirtSysroot(image.cacheDir);
  const boot = await bootLab(image, 'libvirt-in-guest', SEABIOS_BOCHS.machine, LIBVIRT_JOB, LIBVIRT_BOOT_TIMEOUT_MS, {
    [LIBVIRT_SHARE_TAG]: { dir: sysroot.dir, writable: false },
  });
  return { ...boot, sysroot };
}
