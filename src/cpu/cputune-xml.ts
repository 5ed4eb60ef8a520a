// The domain XML a user pastes to pin a VM by hand: <vcpu>, <cputune> with one <vcpupin> per vCPU
// and the <emulatorpin>, and the <cpu><topology> that tells the guest its cores and threads.

import { formatCpuList } from './cpu-list';
import type { GuestTopology } from './pin-plan';

export interface PinnedDomainCpus {
  vcpuPins: readonly number[];
  emulator: readonly number[];
  guestTopology: GuestTopology;
}

/** The lines to paste, indented as inside <domain>. */
export function renderCputuneXml(p: PinnedDomainCpus, indent = '  '): string[] {
  const t = p.guestTopology;
  return [
    `<vcpu placement='static'>${p.vcpuPins.length}</vcpu>`,
    '<cputune>',
    ...p.vcpuPins.map((cpu, vcpu) => `${indent}<vcpupin vcpu='${vcpu}' cpuset='${cpu}'/>`),
    `${indent}<emulatorpin cpuset='${formatCpuList(p.emulator)}'/>`,
    '</cputune>',
    `<cpu mode='host-passthrough'>`,
    `${indent}<topology sockets='${t.sockets}' dies='${t.dies}' cores='${t.cores}' threads='${t.threads}'/>`,
    '</cpu>',
  ];
}
