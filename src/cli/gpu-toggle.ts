// gpu-hookctl detach / attach: one Manager call, with the daemon's StepFinished signals printed live
// as the kernel steps happen, then one line saying where the GPU ended up.

import { parsePciAddress } from '../host/pci-address';
import { GPU_IFACE } from '../dbus/contract';
import { EXIT_OK, parseFlags, UsageError, type CliContext, type Command } from './command';
import { DaemonClient, explainCallError, resolveBusAddress } from './daemon-client';
import { formatMs } from './duration';

export type ToggleKind = 'detach' | 'attach';

const TARGET: Record<ToggleKind, string> = { detach: 'vfio-pci', attach: 'its host drivers' };

export function toggleCommand(kind: ToggleKind): Command {
  return {
    name: kind,
    summary:
      kind === 'detach'
        ? 'move a GPU (its whole IOMMU group) to vfio-pci by hand, without a VM'
        : 'give a GPU detached by hand back to its host drivers',
    usage: [
      `gpu-hookctl ${kind} ADDRESS [--bus ADDRESS]`,
      '  ADDRESS        any function of the GPU\'s IOMMU group, e.g. 0000:01:00.0 or 01:00.0',
      '  --bus ADDRESS  the D-Bus bus gpu-hookd is on (default: $GPU_HOOKD_BUS, else the system bus)',
    ].join('\n'),
    run: (args, ctx) => runToggle(kind, args, ctx),
  };
}

async function runToggle(kind: ToggleKind, args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFlags(args, { bus: { type: 'string' } }, true);
  if (positionals.length !== 1) throw new UsageError(`${kind} needs exactly one PCI address, e.g. 0000:01:00.0`);
  let address: string;
  try {
    address = parsePciAddress(positionals[0]);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  const client = DaemonClient.connect(resolveBusAddress(values.bus, ctx.env));
  try {
    const { gpus } = await client.status();
    // Signals name the GPU's object; the address given may be any function of its group.
    const gpu = gpus.find((g) => g.address === address || g.functions.includes(address));
    // Unknown to the daemon: no header; the call below fails with the daemon's reason.
    if (gpu) ctx.out(`${kind} ${gpu.address} (${gpu.name}): to ${TARGET[kind]}\n`);
    let steps = 0;
    const stop = await client.followSteps((step) => {
      if (gpu && step.gpu !== gpu.path) return;
      steps++;
      ctx.out(`  ${formatMs(step.ms).padStart(9)}  ${step.description}\n`);
    });
    const started = performance.now();
    await client.call(kind === 'detach' ? 'Detach' : 'Attach', 's', [address]);
    const totalMs = performance.now() - started;
    await stop();
    ctx.out(await finalLine(client, gpu?.path, address, steps, totalMs));
    return EXIT_OK;
  } catch (e) {
    throw new Error(explainCallError(e));
  } finally {
    client.close();
  }
}

async function finalLine(client: DaemonClient, gpuPath: string | undefined, address: string, steps: number, totalMs: number): Promise<string> {
  const props = gpuPath ? await client.getAll(gpuPath, GPU_IFACE) : undefined;
  const mode = props ? String(props.Mode) : 'unknown';
  const where = `${props ? String(props.Address) : address} is ${mode === 'vfio' ? 'on vfio-pci' : mode === 'host' ? 'on its host drivers' : mode === 'mixed' ? 'partly on vfio-pci (gpu-hookctl status says which functions and why)' : `in mode ${mode}`}`;
  const done = steps === 0 ? 'nothing to do' : `${steps} step${steps === 1 ? '' : 's'} in ${formatMs(totalMs)}`;
  return `${where} (${done})\n`;
}
