// The seed desktop with its only GPU on the proprietary nvidia stack: the host where a firmware
// framebuffer is really still bound at boot (nvidia has no fbdev and removes no aperture), as
// docs/scenario-format.md "Firmware framebuffers at boot" says. Shared by the handover tests.

import type { ScenarioFile } from '../../../src/sim/scenario';
import { parseScenario } from '../../../src/sim/scenario-parse';
import seedFile from '../../../src/sim/scenarios/seed';
import { GPU } from './handover-host';

/** A desktop whose only GPU is an NVIDIA card on the proprietary stack: efifb still scans out (nvidia has no fbdev) with fbcon on it. */
export function nvidiaDesktop(extraProcesses: NonNullable<ScenarioFile['processes']> = []): ReturnType<typeof parseScenario> {
  const seed = structuredClone(seedFile) as ScenarioFile;
  return parseScenario(
    {
      ...seed,
      name: 'single-nvidia',
      description: 'The seed desktop with its RTX 2060 on the proprietary nvidia stack',
      modules: [
        { name: 'drm' },
        { name: 'drm_kms_helper', deps: ['drm'] },
        { name: 'nvidia', drivers: [{ name: 'nvidia', ids: ['10de:*:03'], drm: { fbdev: false } }] },
        { name: 'nvidia_modeset', deps: ['nvidia'] },
        { name: 'nvidia_uvm', deps: ['nvidia'] },
        { name: 'nvidia_drm', deps: ['nvidia_modeset', 'drm_kms_helper', 'drm'] },
        ...(seed.modules ?? []).filter((m) => !['drm', 'drm_kms_helper', 'ttm', 'nouveau'].includes(m.name)),
      ],
      devices: seed.devices.map((d) => (d.address === GPU ? { ...d, driver: 'nvidia' } : d)),
      firmwareFramebuffer: { kind: 'efi-framebuffer', state: 'bound-with-fb' },
      processes: [
        { pid: 1, comm: 'systemd', cmdline: ['/sbin/init'] },
        { pid: 700, comm: 'nvidia-persiste', cmdline: ['/usr/bin/nvidia-persistenced'], fds: ['/dev/nvidiactl', '/dev/nvidia0'] },
        { pid: 812, comm: 'sddm', cmdline: ['/usr/bin/sddm'] },
        { pid: 845, comm: 'Xorg', cmdline: ['/usr/lib/Xorg', 'vt1'], fds: ['/dev/dri/card0', '/dev/nvidiactl', '/dev/nvidia0', '/dev/nvidia-modeset'] },
        ...extraProcesses,
      ],
    },
    'single-nvidia',
  );
}

/** The simulated desktop's extra unit on that host. */
export const NVIDIA_DESKTOP = { units: [{ name: 'nvidia-persistenced.service', pids: [700] }] };

/** The group's host drivers on that host, in address order. */
export const NVIDIA_HOST_DRIVERS = ['nvidia', 'snd_hda_intel', 'xhci_hcd', 'nvidia-gpu'];
