// The lab machine: q35 with an emulated Intel IOMMU (interrupt remapping on) and a PCIe root port
// whose slot holds a GPU-like multifunction device, as on a real board. TCG only: KVM is not usable
// on the machines this runs on. Pure argv building here; booting is in lab-boot.ts.

export type Firmware = 'seabios' | 'ovmf';

export interface MachineSpec {
  firmware: Firmware;
  /** -device values for what sits behind the root port (id "gpuport", bus 01) and anywhere else. */
  devices: string[];
  /** Kernel modules /init loads, in order, before the agent runs. */
  modules: string[];
}

export interface MachineFiles {
  kernel: string;
  initramfs: string;
  /** 9p shares by mount tag: host directory and whether the guest may write there. */
  shares: Record<string, { dir: string; writable: boolean }>;
  ovmf?: string;
}

/** Where the GPU-like device appears in the guest: the root port's secondary bus. */
export const GUEST_GPU = '0000:01:00.0';
export const GUEST_GPU_AUDIO = '0000:01:00.1';

export const OVMF_FIRMWARE = '/usr/share/ovmf/OVMF.fd';

/**
 * The display function at 01:00.0 and an HDA controller with a codec at 01:00.1: one card, one
 * IOMMU group, like a discrete GPU with its HDMI audio.
 */
export function gpuWithAudio(display: string): string[] {
  return [
    `${display},id=gpu,bus=gpuport,addr=0.0,multifunction=on`,
    'ich9-intel-hda,id=gpuaudio,bus=gpuport,addr=0.1',
    'hda-output,bus=gpuaudio.0,audiodev=noaudio',
  ];
}

export function qemuArgs(spec: MachineSpec, files: MachineFiles): string[] {
  const args = [
    '-machine', 'q35,kernel-irqchip=split',
    '-accel', 'tcg',
    '-cpu', 'max',
    '-smp', '2',
    '-m', '2048',
    '-nodefaults', '-vga', 'none', '-display', 'none', '-serial', 'stdio',
    // A kernel panic or reboot request ends QEMU instead of looping until the timeout.
    '-no-reboot',
    '-device', 'intel-iommu,intremap=on',
    '-device', 'pcie-root-port,id=gpuport,bus=pcie.0,chassis=1,slot=1',
    '-audiodev', 'none,id=noaudio',
  ];
  for (const d of spec.devices) args.push('-device', d);
  if (spec.firmware === 'ovmf') args.push('-bios', files.ovmf ?? OVMF_FIRMWARE);
  args.push('-kernel', files.kernel, '-initrd', files.initramfs);
  args.push('-append', kernelCommandLine(spec));
  for (const [tag, share] of Object.entries(files.shares)) {
    const ro = share.writable ? '' : ',readonly=on';
    args.push('-virtfs', `local,path=${share.dir},mount_tag=${tag},security_model=none${ro}`);
  }
  return args;
}

export function kernelCommandLine(spec: MachineSpec): string {
  return [
    'console=ttyS0',
    'intel_iommu=on',
    'iommu=pt',
    'panic=-1',
    // Under TCG on a loaded machine the kernel's IO-APIC timer check can miss its window and panic
    // ("timer doesn't work through Interrupt-remapped IO-APIC"); the timer is fine, the check is not.
    'no_timer_check',
    'quiet',
    `lab.modules=${spec.modules.join(',')}`,
  ].join(' ');
}
