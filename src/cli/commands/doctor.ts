// gpu-hookctl doctor [VM]: the preflight checklist. Reads the host (through HostIO, read-only), the
// libvirt hook, the config, the bus (without starting the daemon) and, for a VM, its domain XML;
// prints ✔/✖ per check with the fix for each ✖. Works as a normal user; changes nothing.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../../daemon/config-schema';
import { ConfigError, vmSettings } from '../../daemon/config';
import { resolveUnderRoot } from '../../host/host-io';
import { readDomainRequest } from '../../libvirt/domain-request';
import { EXIT_FAILED, EXIT_OK, parseFlags, UsageError, type CliContext, type Command } from '../command';
import { resolveBusAddress } from '../daemon-client';
import type { Check } from '../../doctor/check';
import { readDaemonFacts } from '../../doctor/daemon-facts';
import { buildDoctorReport, renderDoctorReport } from '../../doctor/doctor-report';
import { readDomainPlatform } from '../../doctor/domain-platform';
import { dumpDomainXml, readDomainXmlFile } from '../../doctor/domain-source';
import { hostChecks } from '../../doctor/host-checks';
import { readHostFacts } from '../../doctor/host-facts';
import { installChecks, type ConfigFacts } from '../../doctor/install-checks';
import { readConfigFacts, readHookFacts, readLibvirtdProcesses } from '../../doctor/install-facts';
import { vmChecks, type VmFacts, type VmHostFacts } from '../../doctor/vm-checks';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check the host (and a VM) for GPU passthrough: ✔ or ✖ with the fix, read-only',
  usage: [
    'gpu-hookctl doctor [VM] [--root DIR] [--xml FILE] [--config FILE] [--bus ADDRESS] [--json]',
    '  VM             also check this libvirt domain (its XML read from libvirt, or --xml)',
    '  --root DIR     read the host below DIR instead of / (a simulated host, a mounted image)',
    '  --xml FILE     the VM\'s domain XML from FILE ("-": standard input) instead of libvirt',
    '  --config FILE  the config to check (default: /etc/gpu-hookd/config.json below --root)',
    '  --bus ADDRESS  the D-Bus bus gpu-hookd is on (default: $GPU_HOOKD_BUS, else the system bus)',
    '  --json         print one JSON object for scripts instead of the checklist',
    'exit code 1 when a check failed (✖); warnings (!) do not fail',
  ].join('\n'),

  async run(args: string[], ctx: CliContext): Promise<number> {
    const { values, positionals } = parseFlags(
      args,
      {
        root: { type: 'string', default: '/' },
        xml: { type: 'string' },
        config: { type: 'string' },
        bus: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      true,
    );
    if (positionals.length > 1) throw new UsageError(`doctor checks one VM at a time (got ${positionals.join(', ')})`);
    const root = path.resolve(values.root);
    if (!isDirectory(root)) throw new UsageError(`--root ${values.root} is not a directory`);
    const io = ctx.openHost(root);

    const host = readHostFacts(io);
    const config = readConfigFacts(values.config !== undefined ? path.resolve(values.config) : resolveUnderRoot(root, DEFAULT_CONFIG_PATH));
    const daemon = await readDaemonFacts(resolveBusAddress(values.bus, ctx.env));
    const checks = [...hostChecks(host), ...installChecks(config, readHookFacts(root), readLibvirtdProcesses(io), daemon)];

    let vmName: string | null = positionals[0] ?? null;
    let forVm: Check[] = [];
    if (vmName !== null || values.xml !== undefined) {
      const xml = values.xml !== undefined ? readDomainXmlFile(values.xml, () => fs.readFileSync(0, 'utf8')) : await dumpDomainXml(vmName as string);
      const vm = readVmFacts(xml, vmName ?? undefined, config);
      vmName = vm.name;
      const hostForVm: VmHostFacts = { gpus: host.gpus, pciAddresses: host.pciAddresses, cpuTopology: host.cpuTopology };
      forVm = vmChecks(vm, hostForVm);
    }

    const report = buildDoctorReport(root, vmName, checks, forVm);
    ctx.out(values.json ? JSON.stringify(report, null, 2) + '\n' : renderDoctorReport(report));
    return report.ok ? EXIT_OK : EXIT_FAILED;
  },
};

function readVmFacts(xml: string, expectedName: string | undefined, config: ConfigFacts): VmFacts {
  const request = readDomainRequest(xml, expectedName);
  let settings: VmFacts['settings'];
  if (!config.config) {
    settings = { error: `${config.path} is invalid (see the config line above)` };
  } else {
    try {
      settings = vmSettings(config.config, request.name, request.settings);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      settings = { error: e.message };
    }
  }
  return { name: request.name, request, platform: readDomainPlatform(xml), settings };
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
