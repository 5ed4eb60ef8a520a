// What a simulated host is made of. A scenario file (JSON, docs/scenario-format.md) is a
// ScenarioFile; loading validates it and fills defaults, giving a Scenario that the tree builder
// and the kernel emulator read. Everything here is plain data.

export type FirmwareFramebufferKind = 'efi-framebuffer' | 'simple-framebuffer' | 'vesa-framebuffer' | 'none';

/**
 * How the firmware framebuffer's platform device stands at boot:
 * "bound-with-fb": bound to its driver and scanning out (fb "EFI VGA"); "bound": bound but a DRM
 * driver that leaves firmware framebuffers alone took the screen over; "unbound": device present,
 * no driver; "removed": the kernel already removed the device (a DRM driver or vfio-pci claimed the
 * boot VGA's aperture at boot, as every upstream DRM driver does).
 */
export type FirmwareFramebufferState = 'bound-with-fb' | 'bound' | 'unbound' | 'removed';

export interface DrmSpec {
  /** The driver registers a framebuffer device (fbdev emulation) when it binds: fbcon can use it. */
  fbdev: boolean;
  /** /proc/fb name of that framebuffer; default "<driver>drmfb" as DRM names it. */
  fbName: string;
  /**
   * The driver has render nodes (DRIVER_RENDER): binding creates renderD(128+N) besides cardN.
   * GPU drivers (nouveau, amdgpu, i915, nvidia-drm, virtio-gpu) have them; display-only ones
   * (bochs-drm, ast) do not.
   */
  renderNode: boolean;
  /**
   * Binding the boot VGA removes the firmware framebuffer's platform device (the driver calls
   * aperture_remove_conflicting_pci_devices, which disables sysfb). Every upstream DRM driver does;
   * the proprietary nvidia driver without fbdev does not (why hook scripts unbind efifb by hand).
   */
  removesFirmwareFb: boolean;
}

export interface DriverSpec {
  /** PCI driver name as it appears in sys/bus/pci/drivers ("snd_hda_intel", "vfio-pci"). */
  name: string;
  /** Match table: "vendor:device" or "vendor:device:classprefix", hex, "*" for any ("*:*:0403"). */
  ids: string[];
  /** Probes on registration and drivers_probe complete this long after the write returns. */
  probeDelayMs: number;
  /** A DRM driver: binding creates dev/dri nodes (and a framebuffer with fbdev). */
  drm: DrmSpec | null;
}

export interface ModuleSpec {
  name: string;
  loaded: boolean;
  /** Built into the kernel: always "loaded", no sys/module/<name>/refcnt, cannot be unloaded. */
  builtin: boolean;
  /** Modules this one needs (loaded first; they list this one as a holder). */
  deps: string[];
  /** Modules modprobe also loads after this one (modprobe.d "softdep post"). */
  softdepsPost: string[];
  /** Users other than holder modules (open device files, fbcon...): unload fails while > 0. */
  refcnt: number;
  drivers: DriverSpec[];
}

export interface PciDeviceSpec {
  /** "0000:01:00.0" */
  address: string;
  vendor: string;
  device: string;
  subsystemVendor: string;
  subsystemDevice: string;
  /** Six hex digits: "030000". */
  class: string;
  revision: string;
  /** Upstream bridge's address, or null for a device on the root bus. */
  parent: string | null;
  /** IOMMU group number, or null when the scenario has no IOMMU. */
  iommuGroup: number | null;
  /** Driver bound at boot, or null. */
  driver: string | null;
  /** driver_override at boot (another tool, or an earlier gpu-hookd that crashed, left it set), or null. */
  driverOverride: string | null;
  /** The network interface its driver creates while bound (a NIC, class 02): sys/class/net/<name>. */
  netdev: string | null;
  /** The disk its driver creates while bound (a storage controller, class 01): sys/block/<name>. */
  disk: string | null;
  bootVga: boolean;
  irq: number;
  numaNode: number;
  /** A human label for people reading the scenario (not shown by the kernel). */
  label: string;
  /** The capabilities the kernel's reset methods come from (sim/reset-model.ts derives them). */
  reset: ResetSpec;
}

export interface ResetSpec {
  /** The PCIe capability advertises Function Level Reset (DevCap bit 28). */
  flr: boolean;
  /** A PM capability whose No_Soft_Reset bit is clear: a D3hot-D0 cycle resets the function. */
  pm: boolean;
  /** The kernel may reset the function's bus (false: a quirk sets PCI_DEV_FLAGS_NO_BUS_RESET). */
  busReset: boolean;
}

export interface CpuSpec {
  vendor: 'intel' | 'amd';
  model: string;
  sockets: number;
  coresPerSocket: number;
  threadsPerCore: 1 | 2;
  /** Intel hybrid (P-cores with 2 threads, E-cores with 1); replaces coresPerSocket/threadsPerCore. */
  hybrid: { performanceCores: number; efficiencyCores: number } | null;
  /** "spread": cpuN and cpuN+cores are siblings (typical x86 BIOS order); "adjacent": 2n and 2n+1. */
  siblings: 'spread' | 'adjacent';
  offline: number[];
  governor: string;
  governors: string[];
}

export interface ProcessSpec {
  pid: number;
  comm: string;
  cmdline: string[];
  /** Absolute paths the process holds open ("/dev/dri/card0"), as its fd links read. */
  fds: string[];
  threads: { tid: number; comm: string }[];
}

export interface Scenario {
  name: string;
  description: string;
  kernel: { release: string; cmdline: string };
  /** vfio-pci's ids= from the kernel command line ("10de:1f08"): added as dynamic ids when vfio-pci
   *  registers, and then vfio-pci registers before the host's drivers (initramfs loads it first). */
  vfioIds: string[];
  cpu: CpuSpec;
  /** IOMMU group type ("DMA-FQ", "identity"...); null: the IOMMU is off and there are no groups. */
  iommuGroupType: string | null;
  modules: ModuleSpec[];
  devices: PciDeviceSpec[];
  firmwareFramebuffer: { kind: FirmwareFramebufferKind; state: FirmwareFramebufferState };
  /** fbcon built in (registers a vtconsole as soon as a framebuffer exists). */
  fbcon: boolean;
  /** Console drivers at boot by vtcon number; null leaves a number free. */
  vtconsoles: (string | null)[];
  processes: ProcessSpec[];
  displayManager: { unit: string; name: string } | null;
  /** IRQ numbers with a proc/irq/<n>/smp_affinity_list (devices' irqs are added). */
  irqs: number[];
}

/** The name fbcon's vtconsole has; consoles are found by this name, never by number. */
export const FBCON_NAME = '(M) frame buffer device';

export const FIRMWARE_FB_NAMES: Record<Exclude<FirmwareFramebufferKind, 'none'>, string> = {
  'efi-framebuffer': 'EFI VGA',
  'simple-framebuffer': 'simple',
  'vesa-framebuffer': 'VESA VGA',
};

/** The shape of a scenario file: what validation accepts before defaults are filled in. */
export interface ScenarioFile {
  name: string;
  description: string;
  kernel?: { release?: string; cmdline?: string };
  cpu: {
    vendor: 'intel' | 'amd';
    model: string;
    sockets?: number;
    coresPerSocket?: number;
    threadsPerCore?: 1 | 2;
    hybrid?: { performanceCores: number; efficiencyCores: number };
    siblings?: 'spread' | 'adjacent';
    offline?: number[];
    governor?: string;
    governors?: string[];
  };
  iommu?: { groupType?: string } | false;
  vfio?: { loaded: boolean };
  modules?: {
    name: string;
    loaded?: boolean;
    builtin?: boolean;
    deps?: string[];
    softdepsPost?: string[];
    refcnt?: number;
    drivers?: { name: string; ids?: string[]; probeDelayMs?: number; drm?: { fbdev?: boolean; fbName?: string; renderNode?: boolean; removesFirmwareFb?: boolean } }[];
  }[];
  devices: {
    address: string;
    vendor: string;
    device: string;
    subsystemVendor?: string;
    subsystemDevice?: string;
    class: string;
    revision?: string;
    parent?: string | null;
    iommuGroup?: number;
    driver?: string | null;
    driverOverride?: string | null;
    netdev?: string | null;
    disk?: string | null;
    bootVga?: boolean;
    irq?: number;
    numaNode?: number;
    label?: string;
    reset?: { flr?: boolean; pm?: boolean; busReset?: boolean };
  }[];
  firmwareFramebuffer?: { kind: FirmwareFramebufferKind; state?: FirmwareFramebufferState };
  consoles?: { fbcon?: boolean; vtconsoles?: (string | null)[] };
  processes?: { pid: number; comm: string; cmdline?: string[]; fds?: string[]; threads?: { tid: number; comm: string }[] }[];
  displayManager?: { unit: string; name: string } | null;
  irqs?: number[];
}
