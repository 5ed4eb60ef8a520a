// What the single-GPU handover plan is made from, read from the host just before the detach: what
// uses this GPU (processes holding its device nodes, fbcon drawing on one of its framebuffers, being
// the host's only GPU, graphical sessions on a seat it alone serves), which consoles and firmware framebuffer sit on it, which units run (over the
// system bus), which vendor modules are loaded and who else uses them. What another GPU of the host
// draws (its desktop, its framebuffer, the console on it) never counts: passing one GPU must leave
// the display of another alone.

import { displayDevicesOnHostDrivers, fbconOn, FBCON_CONSOLE_NAME, firmwareFramebuffers, framebuffersOf, listFramebuffers } from '../host/consoles';
import { BusCallError } from '../host/dbus-client';
import { findGpuHolders, gpuDeviceNodes } from '../host/gpu-holders';
import type { HostIO } from '../host/host-io';
import type { HostServices } from '../host/host-services';
import { onlyCardOfSeat, seatOfGpu } from '../host/logind-sessions';
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

  // The screens this GPU scans out: framebuffers its driver registered, and on the boot VGA the
  // firmware's (efifb, simpledrm), which draws through its aperture.
  const bootFirmware = gpu.bootVga ? firmwareFramebuffers(io).filter((f) => f.driver !== null) : [];
  const screens = [...framebuffersOf(io, functions), ...listFramebuffers(io).filter((fb) => bootFirmware.some((f) => f.device === fb.device))];
  const fbcon = fbconOn(io, screens);

  // The desktop depends on this GPU when a process draws on it (a DRM client, a framebuffer user;
  // /dev/nvidia* users such as CUDA or nvidia-persistenced do not make it the display), or when no
  // other GPU is left to the host.
  const displayUse: string[] = [];
  if (gpu.bootVga && displayDevicesOnHostDrivers(io, functions).length === 0) displayUse.push('boot VGA, the only GPU on a host driver');
  for (const h of findGpuHolders(io, gpuDeviceNodes(io, functions, { nvidia: false }))) displayUse.push(`${h.comm} (PID ${h.pid})`);
  const seat = seatOfGpu(io, gpu.address);
  if (displayUse.length === 0) displayUse.push(...(await sessionsOnlyHere(io, services, gpu.address, seat)));
  const consoleUse = fbcon.on.map((fb) => `fbcon on fb${fb.index} (${fb.name})`);

  const drives = displayUse.length > 0;
  const stack = display?.driverModule ? VENDOR_MODULE_STACKS[display.driverModule] ?? [] : [];
  const driverModule = stack.length > 0 && isModuleLoaded(io, stack[stack.length - 1]) ? stack[stack.length - 1] : null;
  return {
    gpu: gpu.address,
    functions,
    displayUse,
    consoleUse,
    consoleUnknown: fbcon.unknown ?? null,
    seat,
    displayManager: drives ? await unitStatus(services, gpu.address, displayUse, settings.displayManagerUnit) : null,
    gpuServices: drives && nvidia ? await gpuServiceStatuses(services, gpu.address, displayUse) : [],
    nvidia,
    fbconConsole: fbcon.on.length > 0 ? FBCON_CONSOLE_NAME : null,
    firmwareFramebuffers: bootFirmware.map((f) => ({ device: f.device, driver: f.driver as string })),
    vendorModules: settings.unloadModules ? stack.filter((m) => isModuleLoaded(io, m)) : [],
    driverModule,
    otherDriverUsers: settings.unloadModules && driverModule ? devicesOfModule(io, driverModule).filter((d) => !functions.includes(d)) : [],
  };
}

/**
 * Graphical sessions on the GPU's seat when it is that seat's only GPU (a multi-seat host's second
 * seat): they can draw on nothing else. logind not answering leaves the holders to tell.
 */
async function sessionsOnlyHere(io: HostIO, services: HostServices | undefined, gpu: string, seat: string): Promise<string[]> {
  if (!services || !onlyCardOfSeat(io, gpu, seat)) return [];
  try {
    return (await services.logind.graphicalOnSeat(seat)).map((s) => `session ${s.id} of ${s.user} on ${seat}`);
  } catch {
    return [];
  }
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
