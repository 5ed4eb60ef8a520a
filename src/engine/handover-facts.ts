// What the single-GPU handover plan is made from, read from the host just before the detach: does
// the host's display depend on this GPU, which consoles and firmware framebuffer sit on it, which
// units run (over the system bus), which vendor modules are loaded and who else uses them.

import { FBCON_CONSOLE_NAME, findVtconsole, firmwareFramebuffers, framebuffersOf, listFramebuffers } from '../host/consoles';
import { BusCallError } from '../host/dbus-client';
import { findGpuHolders, gpuDeviceNodes } from '../host/gpu-holders';
import type { HostIO } from '../host/host-io';
import type { HostServices } from '../host/host-services';
import { seatOfGpu } from '../host/logind-sessions';
import { isModuleLoaded } from '../host/modules';
import { isPciAddress } from '../host/pci-address';
import type { Gpu } from '../host/pci-device';
import type { UnitStatus } from '../host/systemd-manager';
import { EngineError, messageOf } from './engine-error';
import { NVIDIA_GPU_SERVICES, VENDOR_MODULE_STACKS, type HandoverFacts, type HandoverSettings } from './handover-plan';

const NVIDIA_DRIVER = 'nvidia';

export async function readHandoverFacts(io: HostIO, services: HostServices | undefined, gpu: Gpu, settings: HandoverSettings): Promise<HandoverFacts> {
  const functions = gpu.functions.map((f) => f.address);
  const display = gpu.functions.find((f) => f.address === gpu.address);
  const nvidia = gpu.functions.some((f) => f.driver === NVIDIA_DRIVER);

  const displayUse: string[] = [];
  if (gpu.bootVga) displayUse.push('boot VGA');
  const ownFramebuffers = framebuffersOf(io, functions);
  for (const fb of ownFramebuffers) displayUse.push(`framebuffer ${fb.name}`);
  const bootFirmware = gpu.bootVga ? firmwareFramebuffers(io).filter((f) => f.driver !== null) : [];
  const firmwareScanout = listFramebuffers(io).some((fb) => bootFirmware.some((f) => f.device === fb.device));
  const fbcon = findVtconsole(io, FBCON_CONSOLE_NAME);
  const fbconHere = fbcon?.bound === true && (ownFramebuffers.length > 0 || firmwareScanout);
  if (fbconHere) displayUse.push('fbcon');
  // A DRM client draws on it; /dev/nvidia* users (CUDA, nvidia-persistenced) do not make it the display.
  for (const h of findGpuHolders(io, gpuDeviceNodes(io, functions, { nvidia: false }))) displayUse.push(`${h.comm} (PID ${h.pid})`);

  const drives = displayUse.length > 0;
  const stack = display?.driverModule ? VENDOR_MODULE_STACKS[display.driverModule] ?? [] : [];
  const driverModule = stack.length > 0 && isModuleLoaded(io, stack[stack.length - 1]) ? stack[stack.length - 1] : null;
  return {
    gpu: gpu.address,
    functions,
    displayUse,
    seat: seatOfGpu(io, gpu.address),
    displayManager: drives ? await unitStatus(services, gpu.address, displayUse, settings.displayManagerUnit) : null,
    gpuServices: drives && nvidia ? await gpuServiceStatuses(services, gpu.address, displayUse) : [],
    nvidia,
    fbconConsole: fbconHere ? FBCON_CONSOLE_NAME : null,
    firmwareFramebuffers: bootFirmware.map((f) => ({ device: f.device, driver: f.driver as string })),
    vendorModules: settings.unloadModules ? stack.filter((m) => isModuleLoaded(io, m)) : [],
    driverModule,
    otherDriverUsers: settings.unloadModules && driverModule ? devicesOfModule(io, driverModule).filter((d) => !functions.includes(d)) : [],
  };
}

async function unitStatus(services: HostServices | undefined, gpu: string, displayUse: string[], unit: string): Promise<UnitStatus> {
  const refuse = (why: string): EngineError =>
    new EngineError(
      'Failed',
      `detach of ${gpu} refused before any change: the host's display depends on it (${displayUse.join(', ')}), and ${why}, ` +
        `so gpu-hookd cannot stop ${unit}; run gpu-hookd as the systemd service it is, on the system bus`,
      { gpu },
    );
  if (!services) throw refuse('gpu-hookd has no system bus connection');
  try {
    return await services.systemd.unitStatus(unit);
  } catch (e) {
    if (e instanceof BusCallError && e.serviceMissing) throw refuse(`systemd does not answer on the system bus (${e.errorName})`);
    throw refuse(`systemd could not tell the state of ${unit}: ${messageOf(e)}`);
  }
}

async function gpuServiceStatuses(services: HostServices | undefined, gpu: string, displayUse: string[]): Promise<UnitStatus[]> {
  const statuses: UnitStatus[] = [];
  for (const unit of NVIDIA_GPU_SERVICES) statuses.push(await unitStatus(services, gpu, displayUse, unit));
  return statuses.filter((s) => s.loadState === 'loaded');
}

/** PCI devices bound to any PCI driver of `module` (sys/module/<m>/drivers/pci:<driver>). */
function devicesOfModule(io: HostIO, module: string): string[] {
  return io
    .list(`sys/module/${module}/drivers`)
    .filter((d) => d.startsWith('pci:'))
    .flatMap((d) => io.list(`sys/bus/pci/drivers/${d.slice('pci:'.length)}`).filter(isPciAddress));
}
