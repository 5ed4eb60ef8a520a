// The lab's scenarios: each one boot of a real kernel with one machine and one job. Each has a twin
// on the simulated host (src/sim/scenarios/<simScenario>.json) modelling the same guest, for the
// differential check.

import type { StepSpec } from '../../src/engine/step-spec';
import type { GuestJob, TransitionJob } from './lab-job';
import { GUEST_GPU, GUEST_GPU_AUDIO, gpuWithAudio, type MachineSpec } from './runner/qemu-machine';

export interface LabScenario {
  name: string;
  /** What the boot proves, for test titles and docs/lab.md. */
  proves: string;
  machine: MachineSpec;
  job: GuestJob;
  simScenario: string;
}

const VFIO_MODULES = ['vfio', 'vfio_iommu_type1', 'vfio_pci'];
const AUDIO_MODULES = ['snd_hda_intel', 'snd_hda_codec_generic'];
/** virtio_pci first: the 9p shares (and virtio-vga) sit on it. */
const SHARE_MODULES = ['virtio_pci', '9pnet_virtio', '9p'];

/** A second card behind a PCIe-to-PCI bridge: the bridge aliases every device behind it, so one IOMMU
 *  group holds this display and an HDA controller in another slot, still on its host driver. */
export const NON_VIABLE_GPU = '0000:03:01.0';
export const NON_VIABLE_CULPRIT = '0000:03:02.0';
const NON_VIABLE_CARD = [
  'pcie-root-port,id=legacyport,bus=pcie.0,chassis=2,slot=2',
  'pcie-pci-bridge,id=legacy,bus=legacyport',
  'bochs-display,id=gpu2,bus=legacy,addr=1.0',
  'ich9-intel-hda,id=neighbour,bus=legacy,addr=2.0',
  'hda-output,bus=neighbour.0,audiodev=noaudio',
];

/** `between`: runs after the detach, before the attach. */
function cycle(settle: Record<string, string | null>, between: TransitionJob['runs'] = []): TransitionJob {
  return {
    kind: 'transitions',
    settle,
    list: true,
    runs: [
      { label: 'detach', action: 'detach', gpu: GUEST_GPU },
      { label: 'detach again', action: 'detach', gpu: GUEST_GPU },
      ...between,
      { label: 'attach', action: 'attach', gpu: GUEST_GPU },
      { label: 'attach again', action: 'attach', gpu: GUEST_GPU },
    ],
  };
}

export const SEABIOS_BOCHS: LabScenario = {
  name: 'seabios-bochs',
  proves: 'SeaBIOS VGA on bochs-drm with fbcon: both functions to vfio-pci and back, fbcon gone and back',
  machine: {
    firmware: 'seabios',
    devices: gpuWithAudio('VGA'),
    modules: [...VFIO_MODULES, 'bochs', ...AUDIO_MODULES, ...SHARE_MODULES],
  },
  job: cycle({ [GUEST_GPU]: 'bochs-drm', [GUEST_GPU_AUDIO]: 'snd_hda_intel' }),
  simScenario: 'lab-seabios-bochs',
};

export const OVMF_EFIFB: LabScenario = {
  name: 'ovmf-efifb',
  proves: 'OVMF with efifb on the boot VGA and no DRM driver: the kernel removes efi-framebuffer.0, the audio driver comes back',
  machine: {
    firmware: 'ovmf',
    devices: gpuWithAudio('VGA'),
    modules: [...VFIO_MODULES, ...AUDIO_MODULES, ...SHARE_MODULES],
  },
  job: cycle({ [GUEST_GPU]: null, [GUEST_GPU_AUDIO]: 'snd_hda_intel' }),
  simScenario: 'lab-ovmf-efifb',
};

export const VIRTIO_VGA: LabScenario = {
  name: 'virtio-vga',
  proves:
    'virtio-vga, whose PCI driver is virtio-pci (virtio_gpu drives the inner virtio device); a function reset of the ' +
    'GPU on vfio-pci between detach and attach (the give-back\'s reset step), the card working after it',
  machine: {
    firmware: 'seabios',
    devices: gpuWithAudio('virtio-vga'),
    modules: [...VFIO_MODULES, ...SHARE_MODULES, 'virtio_gpu', ...AUDIO_MODULES],
  },
  job: cycle({ [GUEST_GPU]: 'virtio-pci', [GUEST_GPU_AUDIO]: 'snd_hda_intel' }, [
    { label: 'reset', action: 'steps', gpu: GUEST_GPU, steps: [{ kind: 'reset-function', device: GUEST_GPU, bridge: null, devices: [GUEST_GPU], methods: [] }] },
  ]),
  simScenario: 'lab-virtio-vga',
};

export const FAULTS: LabScenario = {
  name: 'faults',
  proves:
    'a non-viable group refused with the host unchanged; a failure at each write of detach and attach rolled back exactly, ' +
    'with the functions one after another and side by side',
  machine: {
    firmware: 'seabios',
    devices: [...gpuWithAudio('VGA'), ...NON_VIABLE_CARD],
    modules: [...VFIO_MODULES, 'bochs', ...AUDIO_MODULES, ...SHARE_MODULES],
  },
  job: {
    kind: 'transitions',
    settle: {
      [GUEST_GPU]: 'bochs-drm',
      [GUEST_GPU_AUDIO]: 'snd_hda_intel',
      [NON_VIABLE_GPU]: 'bochs-drm',
      [NON_VIABLE_CULPRIT]: 'snd_hda_intel',
    },
    list: false,
    runs: [
      { label: 'non-viable', action: 'detach', gpu: NON_VIABLE_GPU },
      { label: 'detach', action: 'detach', gpu: GUEST_GPU, sweep: true },
      { label: 'attach', action: 'attach', gpu: GUEST_GPU, sweep: true },
      // Again with the functions side by side, as the engine runs them by default.
      { label: 'detach-side', action: 'detach', gpu: GUEST_GPU, sweep: true, sideBySide: true },
      { label: 'attach-side', action: 'attach', gpu: GUEST_GPU, sweep: true, sideBySide: true },
    ],
  },
  simScenario: 'lab-faults',
};

/** What another tool does to leave the audio function on vfio-pci (a hook script, virsh nodedev-detach). */
const AUDIO_LEFT_ON_VFIO: StepSpec[] = [
  { kind: 'set-override', device: GUEST_GPU_AUDIO, value: 'vfio-pci', previous: null },
  { kind: 'unbind-driver', device: GUEST_GPU_AUDIO, driver: 'snd_hda_intel', restoreOverride: null },
  { kind: 'probe-driver', device: GUEST_GPU_AUDIO, expect: 'vfio-pci' },
];

export const LEFTOVERS: LabScenario = {
  name: 'leftovers',
  proves:
    'a function another tool left on vfio-pci by driver_override goes to the driver the real kernel chooses: ' +
    'at an attach of a GPU gpu-hookd never moved, and at the attach after a detach that found it so',
  machine: SEABIOS_BOCHS.machine,
  job: {
    kind: 'transitions',
    settle: { [GUEST_GPU]: 'bochs-drm', [GUEST_GPU_AUDIO]: 'snd_hda_intel' },
    list: false,
    runs: [
      { label: 'left by another tool', action: 'steps', gpu: GUEST_GPU, steps: AUDIO_LEFT_ON_VFIO },
      { label: 'attach never moved', action: 'attach', gpu: GUEST_GPU },
      { label: 'left again', action: 'steps', gpu: GUEST_GPU, steps: AUDIO_LEFT_ON_VFIO },
      { label: 'detach', action: 'detach', gpu: GUEST_GPU },
      { label: 'attach', action: 'attach', gpu: GUEST_GPU },
    ],
  },
  simScenario: 'lab-seabios-bochs',
};

/** A second display with its own framebuffer, behind its own root port: fbcon stays on the first. */
export const SECOND_GPU = '0000:02:00.0';
export const SECOND_GPU_AUDIO = '0000:02:00.1';
const SECOND_CARD = [
  'pcie-root-port,id=secondport,bus=pcie.0,chassis=2,slot=2',
  'bochs-display,id=gpu2,bus=secondport,addr=0.0,multifunction=on',
  'ich9-intel-hda,id=gpu2audio,bus=secondport,addr=0.1',
  'hda-output,bus=gpu2audio.0,audiodev=noaudio',
];
const HANDOVER = { displayManagerUnit: 'display-manager.service', endSessions: false, unloadModules: false, holders: 'refuse' } as const;

export const TWO_DISPLAY: LabScenario = {
  name: 'two-display',
  proves:
    'two displays, fbcon on the boot VGA: the other one, with a framebuffer of its own, goes with the handover asked for and the first keeps ' +
    'its framebuffer, nodes and fbcon; both given back in boot order end as booted, in the other order their numbers swap and the engine says so',
  machine: {
    firmware: 'seabios',
    devices: [...gpuWithAudio('VGA'), ...SECOND_CARD],
    modules: [...VFIO_MODULES, 'bochs', ...AUDIO_MODULES, ...SHARE_MODULES],
  },
  job: {
    kind: 'transitions',
    settle: { [GUEST_GPU]: 'bochs-drm', [GUEST_GPU_AUDIO]: 'snd_hda_intel', [SECOND_GPU]: 'bochs-drm', [SECOND_GPU_AUDIO]: 'snd_hda_intel' },
    list: false,
    runs: [
      { label: 'handover of the second', action: 'detach', gpu: SECOND_GPU, handover: HANDOVER },
      { label: 'second back', action: 'attach', gpu: SECOND_GPU },
      { label: 'first away', action: 'detach', gpu: GUEST_GPU },
      { label: 'second away', action: 'detach', gpu: SECOND_GPU },
      { label: 'first back (boot order)', action: 'attach', gpu: GUEST_GPU },
      { label: 'second back (boot order)', action: 'attach', gpu: SECOND_GPU },
      { label: 'first away again', action: 'detach', gpu: GUEST_GPU },
      { label: 'second away again', action: 'detach', gpu: SECOND_GPU },
      { label: 'second back first', action: 'attach', gpu: SECOND_GPU },
      { label: 'first back last', action: 'attach', gpu: GUEST_GPU },
    ],
  },
  simScenario: 'lab-two-display',
};

export const BENCH_MACHINE: MachineSpec = SEABIOS_BOCHS.machine;

export const ALL_SCENARIOS = [SEABIOS_BOCHS, OVMF_EFIFB, VIRTIO_VGA, FAULTS, LEFTOVERS, TWO_DISPLAY];
