// What the host uses a PCI function for, by the names a user knows: the network interfaces (as
// `ip link` shows them) and the disks (as lsblk shows them) its driver created. The kernel links
// each from sys/class/net and sys/block to its place under the PCI function, whatever the driver
// (e1000e, igb, virtio-net, nvme, ahci, virtio-blk), so one rule finds both.

import type { HostIO } from './host-io';
import { isPciAddress } from './pci-address';

export interface FunctionUses {
  interfaces: string[];
  disks: string[];
}

/** The interfaces and disks that sit under the PCI function at `address` (none while it is unbound). */
export function functionUses(io: HostIO, address: string): FunctionUses {
  return { interfaces: namesUnder(io, 'sys/class/net', address), disks: namesUnder(io, 'sys/block', address) };
}

/** "interface enp2s0", "disks nvme0n1, nvme1n1", or "" when the host shows none. */
export function describeUses(uses: FunctionUses): string {
  const part = (one: string, many: string, names: string[]): string =>
    names.length === 0 ? '' : `${names.length === 1 ? one : many} ${names.join(', ')}`;
  return [part('interface', 'interfaces', uses.interfaces), part('disk', 'disks', uses.disks)].filter((p) => p !== '').join(' and ');
}

/** Entries of `classDir` whose link leads under `address`: the last PCI address in the target is the function's own. */
function namesUnder(io: HostIO, classDir: string, address: string): string[] {
  return io.list(classDir).filter((name) => {
    const target = io.readLink(`${classDir}/${name}`);
    if (target === undefined) return false;
    const pci = target.split('/').filter(isPciAddress);
    return pci[pci.length - 1] === address;
  });
}
