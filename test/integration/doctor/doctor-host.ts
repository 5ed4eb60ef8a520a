// A simulated host for `gpu-hookctl doctor`, with what the simulator does not model added to its
// tree: /dev/kvm, an installed libvirt hook, a running libvirtd with its start time, a config file.
// Each fault is one option away from a healthy host.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createSimHost, type SimHost } from '../../../src/sim/sim-host';
import type { ScenarioFile } from '../../../src/sim/scenario';
import { parseScenario } from '../../../src/sim/scenario-parse';
import { assertSafeTestRoot } from '../../support/temp-root';

const REPO = path.resolve(__dirname, '../../../..');
const HOOK = '/etc/libvirt/hooks/qemu.d/gpu-hookd';
const HOOK_TARGET = '/usr/lib/gpu-hookd/hooks/qemu';
const LIBVIRTD_PID = 4321;

export interface DoctorHostOptions {
  /** Changes the built-in scenario before the tree is built. */
  scenario?: (s: ScenarioFile) => void;
  /** /dev/kvm present (default true). */
  kvm?: boolean;
  /** The hook at /etc/libvirt/hooks/qemu.d/gpu-hookd (default "ours": a link to the real hook). */
  hook?: 'ours' | 'none' | 'not-executable' | 'foreign';
  /** libvirtd's start relative to the hook's installation (default "after"). */
  libvirtd?: 'after' | 'before' | 'none';
  /** The text of etc/gpu-hookd/config.json; absent: no config file. */
  config?: string;
}

export interface DoctorHost {
  root: string;
  sim: SimHost;
  dispose(): Promise<void>;
}

export async function doctorHost(name: string, options: DoctorHostOptions = {}): Promise<DoctorHost> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const file = structuredClone((require(`../../../src/sim/scenarios/${name}`) as { default: ScenarioFile }).default);
  options.scenario?.(file);
  const sim = await createSimHost(parseScenario(file, name));
  const root = assertSafeTestRoot(sim.root);
  const put = (rel: string, text: string, mode = 0o644): void => {
    const abs = path.join(root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, text, { mode });
    fs.chmodSync(abs, mode);
  };

  if (options.kvm ?? true) put('dev/kvm', '');
  const nowS = Math.floor(Date.now() / 1000);
  const hook = options.hook ?? 'ours';
  if (hook !== 'none') {
    put(HOOK_TARGET, hook === 'foreign' ? '#!/bin/sh\n# a hand-written passthrough script\nexit 0\n' : fs.readFileSync(path.join(REPO, 'hooks/qemu'), 'utf8'), hook === 'not-executable' ? 0o644 : 0o755);
    fs.mkdirSync(path.join(root, path.dirname(HOOK)), { recursive: true });
    fs.symlinkSync(HOOK_TARGET, path.join(root, HOOK));
  }
  const libvirtd = options.libvirtd ?? 'after';
  if (libvirtd !== 'none') {
    // Booted 1000 s ago; libvirtd started 60 s after the hook appeared (now), or 600 s before.
    const bootS = nowS - 1000;
    const startS = libvirtd === 'after' ? nowS + 60 : nowS - 600;
    put('proc/stat', `cpu  1 2 3 4\nbtime ${bootS}\nprocesses 900\n`);
    put(`proc/${LIBVIRTD_PID}/comm`, 'libvirtd\n');
    // Field 2 may hold spaces and parentheses; field 22 is the start time in ticks (100 per second).
    const fields = ['S', '1', ...Array.from({ length: 17 }, () => '0'), String((startS - bootS) * 100), '0', '0'];
    put(`proc/${LIBVIRTD_PID}/stat`, `${LIBVIRTD_PID} (libvirtd (x)) ${fields.join(' ')}\n`);
  }
  if (options.config !== undefined) put('etc/gpu-hookd/config.json', options.config);
  return { root, sim, dispose: () => sim.dispose() };
}

export interface DomainXmlOptions {
  name?: string;
  machine?: string;
  uefi?: boolean;
  cpuMode?: string | null;
  hideHypervisor?: boolean;
  hostdevs?: string[];
  vcpus?: number;
  vcpupins?: [number, string][];
  metadata?: string;
}

/** A domain XML like the seed guide's win10 (q35, OVMF, host-passthrough, hidden hypervisor). */
export function domainXml(o: DomainXmlOptions = {}): string {
  const hostdevs = (o.hostdevs ?? ['0000:01:00.0', '0000:01:00.1']).map((a) => {
    const [domain, bus, sf] = a.split(':');
    const [slot, fn] = sf.split('.');
    return `    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <source>\n        <address domain='0x${domain}' bus='0x${bus}' slot='0x${slot}' function='0x${fn}'/>\n      </source>\n    </hostdev>`;
  });
  const pins = (o.vcpupins ?? []).map(([v, c]) => `    <vcpupin vcpu='${v}' cpuset='${c}'/>`);
  const hide = o.hideHypervisor ?? true;
  return [
    '<domain type=\'kvm\'>',
    `  <name>${o.name ?? 'win10'}</name>`,
    o.metadata ? `  <metadata>${o.metadata}</metadata>` : '',
    `  <vcpu placement='static'>${o.vcpus ?? 8}</vcpu>`,
    pins.length ? `  <cputune>\n${pins.join('\n')}\n  </cputune>` : '',
    '  <os>',
    `    <type arch='x86_64' machine='${o.machine ?? 'pc-q35-8.1'}'>hvm</type>`,
    (o.uefi ?? true) ? "    <loader readonly='yes' type='pflash'>/usr/share/edk2/x64/OVMF_CODE.fd</loader>" : '',
    '  </os>',
    '  <features>',
    '    <acpi/>',
    hide ? "    <hyperv mode='custom'>\n      <vendor_id state='on' value='randomid'/>\n    </hyperv>\n    <kvm>\n      <hidden state='on'/>\n    </kvm>\n    <ioapic driver='kvm'/>" : '',
    '  </features>',
    o.cpuMode === null ? '' : `  <cpu mode='${o.cpuMode ?? 'host-passthrough'}' check='none' migratable='on'/>`,
    '  <devices>',
    ...hostdevs,
    '  </devices>',
    '</domain>',
  ]
    .filter((l) => l !== '')
    .join('\n');
}
