// gpu-hookctl cpu-plan: the <cputune> and <cpu><topology> to paste into a domain for this host's
// topology (whole cores, the first core left to the host, as gpu-hookd's pin "auto" plans it), and
// what isolation will confine to the host's CPUs. Read-only and without the daemon: it reads sysfs,
// the config and libvirt's definition of the domain (/etc/libvirt/qemu/<vm>.xml).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { cpusPhrase, formatCpuList } from '../../cpu/cpu-list';
import { describeTopology, readCpuTopology } from '../../cpu/cpu-topology';
import { renderCputuneXml } from '../../cpu/cputune-xml';
import { ISOLATED_UNITS } from '../../cpu/host-cpu-facts';
import { resolveVmCpuLayout, type CpuSettings, type VmCpuLayout } from '../../cpu/vm-cpu-layout';
import { loadConfig, vmSettings } from '../../daemon/config';
import type { HostIO } from '../../host/host-io';
import { readDomainRequest, validateDomainName, type DomainRequest } from '../../libvirt/domain-request';
import { EXIT_OK, parseFlags, UsageError, type CliContext, type Command } from '../command';

/** Where libvirt keeps the definitions of persistent domains (root-relative). */
export const LIBVIRT_DOMAIN_DIR = 'etc/libvirt/qemu';

export const cpuPlanCommand: Command = {
  name: 'cpu-plan',
  summary: 'print the <cputune> and <cpu><topology> to pin a VM on this host, and what isolation keeps for the host',
  usage: [
    'gpu-hookctl cpu-plan VM | --vcpus N [--housekeeping LIST] [--root DIR] [--config FILE]',
    '  VM                 a defined libvirt domain: its vCPU count, metadata and config section are used',
    '  --vcpus N          plan for N vCPUs instead of a domain',
    '  --housekeeping L   CPUs the host keeps, as a CPU list ("0,8"); default: the VM\'s housekeepingCpus, else the first core',
    '  --root DIR         read the host below DIR instead of / (a simulated host)',
    '  --config FILE      gpu-hookd\'s config file (default /etc/gpu-hookd/config.json)',
  ].join('\n'),

  async run(args: string[], ctx: CliContext): Promise<number> {
    const { values, positionals } = parseFlags(
      args,
      {
        vcpus: { type: 'string' },
        housekeeping: { type: 'string' },
        root: { type: 'string', default: '/' },
        config: { type: 'string' },
      },
      true,
    );
    if (positionals.length > 1) throw new UsageError(`one VM at a time, got ${positionals.length}`);
    const vm = positionals[0];
    if (vm === undefined && values.vcpus === undefined) throw new UsageError('name a VM or give --vcpus N');
    if (vm !== undefined && values.vcpus !== undefined) throw new UsageError('name a VM or give --vcpus N, not both');
    const root = path.resolve(values.root);
    if (!isDirectory(root)) throw new UsageError(`--root ${root} is not a directory`);
    const io = ctx.openHost(root);
    const config = loadConfig({ args: values.config === undefined ? {} : { config: values.config } });

    const request = vm === undefined ? plannedRequest(vcpuCount(values.vcpus as string)) : readDefinedDomain(io, vm);
    const settings: CpuSettings = vm === undefined ? config.defaults : vmSettings(config, vm, request.settings);
    const planned: CpuSettings = {
      ...settings,
      pin: 'auto',
      housekeepingCpus: values.housekeeping ?? settings.housekeepingCpus,
    };
    const topology = readCpuTopology(io);
    const layout = resolveVmCpuLayout(request, planned, topology);
    const host = `${describeTopology(topology)} (CPUs ${formatCpuList(topology.online)})`;
    ctx.out(`${renderPlan(request, vm !== undefined, settings, layout, host).join('\n')}\n`);
    return EXIT_OK;
  },
};

function renderPlan(request: DomainRequest, defined: boolean, settings: CpuSettings, layout: VmCpuLayout, host: string): string[] {
  const who = `VM ${request.name}`;
  const lines = [`host: ${host}`];
  if (layout.threadPins && layout.guestTopology) {
    lines.push(
      `${who}: ${request.vcpus} vCPUs on ${cpusPhrase(layout.vmCpus)}; the host keeps ${cpusPhrase(layout.housekeeping)}`,
      '',
      `paste into the domain${defined ? ` (virsh edit ${request.name})` : ''}, in place of its <vcpu>, any <cputune> and its <cpu>'s <topology> (keep your <cpu mode>):`,
      ...renderCputuneXml({ vcpuPins: layout.threadPins.vcpus, emulator: layout.threadPins.emulator, guestTopology: layout.guestTopology }).map((l) => `  ${l}`),
    );
    if (settings.pin === 'auto') lines.push('', `(with pin "auto" and no <cputune>, gpu-hookd applies this plan itself when ${who} starts)`);
  } else {
    lines.push(`${who} pins its vCPUs in its own <cputune>: it runs on ${cpusPhrase(layout.vmCpus)}; the host keeps ${cpusPhrase(layout.housekeeping)}`);
  }
  lines.push(
    '',
    `isolateCpus is ${settings.isolateCpus ? 'on' : 'off'} for ${who}: ${settings.isolateCpus ? 'while it runs' : 'with it on'}, ` +
      `${ISOLATED_UNITS.join(', ')} run on ${cpusPhrase(layout.housekeeping)} only`,
  );
  if (settings.governor) lines.push(`governor is on: ${cpusPhrase(layout.vmCpus)} run the "performance" cpufreq governor while it runs`);
  if (settings.irqAffinity) lines.push(`irqAffinity is on: interrupts are steered off ${cpusPhrase(layout.vmCpus)} while it runs`);
  for (const note of layout.notes) lines.push(`note: ${note}`);
  return lines;
}

function vcpuCount(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 4096) throw new UsageError(`--vcpus must be a whole number from 1 to 4096, got ${JSON.stringify(text)}`);
  return n;
}

/** A VM known only by its vCPU count; its "name" reads well in every sentence ("VM with 14 vCPUs ..."). */
function plannedRequest(vcpus: number): DomainRequest {
  return {
    name: `with ${vcpus} vCPUs`,
    hostdevs: [],
    metadataGpus: [],
    settings: {},
    vcpus,
    vcpuCpuset: '',
    cputune: { vcpupins: [], emulatorpin: '', iothreadpins: [] },
    topology: null,
  };
}

function readDefinedDomain(io: HostIO, vm: string): DomainRequest {
  validateDomainName(vm);
  const file = `${LIBVIRT_DOMAIN_DIR}/${vm}.xml`;
  let xml: string | undefined;
  try {
    xml = io.readText(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new Error(`${io.abs(file)} cannot be read (${code}): run gpu-hookctl cpu-plan as root, or plan with --vcpus N`);
  }
  if (xml === undefined) {
    throw new Error(`no domain ${vm} is defined here: ${io.abs(file)} does not exist (virsh list --all shows the names; for a transient domain plan with --vcpus N)`);
  }
  return readDomainRequest(xml, vm);
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
