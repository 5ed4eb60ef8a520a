// What the lab guest needs to run libvirt of its own (the opt-in libvirt-in-guest target): libvirtd
// with its QEMU driver, virtlogd, virsh, a dbus-daemon and dbus-send, bash and the few tools our
// hook calls, this machine's QEMU with its TCG module and firmware, the nested workload, and node
// for gpu-hookd; each with the libraries ldd names, at their own paths. The guest mounts it over 9p
// read-only and chroots into it, with tmpfs over etc/, var/, run/ and tmp/ (etc/ filled from
// LIBVIRT_ETC_TEMPLATE) and the guest's /sys, /proc, /dev and the project bound in.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError, runChecked } from '../runner/command';
import { cachedArtifact, contentKey } from '../runner/lab-cache';
import { GUEST_NODE, copyInto, librariesFromLdd } from '../runner/node-sysroot';
import { NESTED_FIRMWARE, NESTED_WORKLOAD, WORKLOAD_CFLAGS, buildWorkload } from './nested-sysroot';

export interface LibvirtSysroot {
  dir: string;
  /** Bytes of every file in it. */
  bytes: number;
}

/** Inside the chroot: the writable directories the guest mounts tmpfs on, and the bind mount points. */
export const LIBVIRT_TMPFS_DIRS = ['etc', 'var', 'run', 'tmp'];
export const LIBVIRT_BIND_DIRS = ['sys', 'proc', 'dev'];
/** Where the project is bound inside the chroot. */
export const LIBVIRT_PROJECT = '/project';
/** The guest copies this directory of the sysroot into its tmpfs /etc. */
export const LIBVIRT_ETC_TEMPLATE = '/lab-etc';
/** The private system-like bus, as seen inside the chroot. */
export const LIBVIRT_BUS_SOCKET = '/run/gpu-hookd-lab/bus';
export const LIBVIRT_BUS_CONFIG = '/etc/gpu-hookd-lab/bus.conf';
export const HOOK_PATH = '/etc/libvirt/hooks/qemu.d/gpu-hookd';

const HOOK_SOURCE = path.resolve(__dirname, '../../../../hooks/qemu');
const TCG_MODULE = '/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so';
const QEMU_DRIVER = '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so';
const CPU_MAP = '/usr/share/libvirt/cpu_map';
/** Programs at their guest paths; the hook needs bash, dbus-send, cat, tr, sed and grep. */
const PROGRAMS = [
  '/usr/sbin/libvirtd', '/usr/sbin/virtlogd', '/usr/bin/virsh', '/usr/bin/dbus-daemon', '/usr/bin/dbus-send',
  '/usr/bin/qemu-system-x86_64', '/usr/bin/bash', '/usr/bin/cat', '/usr/bin/tr', '/usr/bin/sed', '/usr/bin/grep',
];
const PACKAGES: Record<string, string> = {
  libvirtd: 'libvirt-daemon-system', virtlogd: 'libvirt-daemon-system', virsh: 'libvirt-clients', 'dbus-daemon': 'dbus',
  'dbus-send': 'dbus', 'qemu-system-x86_64': 'qemu-system-x86', 'accel-tcg-x86_64.so': 'qemu-system-x86',
  'libvirt_driver_qemu.so': 'libvirt-daemon-driver-qemu', cpu_map: 'libvirt-daemon',
};

/** qemu.conf for a guest with no cgroups, no security driver and QEMU as root (/dev/vfio is root's). */
const QEMU_CONF = `user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
`;

/** A system-like bus that lets root (the only user in the guest) own and call anything. */
const BUS_CONF = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${LIBVIRT_BUS_SOCKET}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`;

/** Files of LIBVIRT_ETC_TEMPLATE, relative to /etc. */
export function etcFiles(hook: string): Record<string, string> {
  return {
    // libvirt's QEMU driver resolves its built-in default user and group at start, whatever qemu.conf says.
    passwd: 'root:x:0:0:root:/root:/usr/bin/bash\nlibvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin\n',
    group: 'root:x:0:\nkvm:x:64055:\nlibvirt-qemu:x:64056:\ngpuhookd:x:990:\n',
    'machine-id': '6c6162676775686f6f6b6400000000aa\n',
    'libvirt/libvirtd.conf': '',
    'libvirt/virtlogd.conf': '',
    'libvirt/qemu.conf': QEMU_CONF,
    'gpu-hookd/hook.conf': `GPU_HOOKD_BUS=unix:path=${LIBVIRT_BUS_SOCKET}\n`,
    'gpu-hookd-lab/bus.conf': BUS_CONF,
    [HOOK_PATH.slice('/etc/'.length)]: hook,
  };
}

export async function prepareLibvirtSysroot(cacheDir: string): Promise<LibvirtSysroot> {
  const nodeBinary = fs.realpathSync(process.execPath);
  for (const file of [...PROGRAMS, TCG_MODULE, QEMU_DRIVER, CPU_MAP, ...NESTED_FIRMWARE]) {
    if (!fs.existsSync(file)) {
      throw new LabError(`${file} is missing: install the apt package ${PACKAGES[path.basename(file)] ?? 'that provides it'} and run again`);
    }
  }
  const hook = fs.readFileSync(HOOK_SOURCE, 'utf8');
  const versions = await runChecked('dpkg-query', ['-W', 'libvirt-daemon', 'libvirt-daemon-driver-qemu', 'libvirt-clients', 'dbus', 'qemu-system-x86', 'bash'], { timeoutMs: 30_000 });
  const key = contentKey(versions, process.version, nodeBinary, JSON.stringify(etcFiles(hook)), ...WORKLOAD_CFLAGS);
  const dir = await cachedArtifact(path.join(cacheDir, `libvirt-sysroot-${key}`), async (scratch) => {
    for (const d of [...LIBVIRT_TMPFS_DIRS, ...LIBVIRT_BIND_DIRS, LIBVIRT_PROJECT.slice(1)]) fs.mkdirSync(path.join(scratch, d), { recursive: true });
    const elves = [...PROGRAMS.map((p) => fs.realpathSync(p)), TCG_MODULE, QEMU_DRIVER, nodeBinary];
    PROGRAMS.forEach((p) => copyInto(scratch, p, p));
    copyInto(scratch, TCG_MODULE, TCG_MODULE);
    copyInto(scratch, QEMU_DRIVER, QEMU_DRIVER);
    copyInto(scratch, nodeBinary, GUEST_NODE);
    const libs = new Set<string>();
    for (const elf of elves) for (const lib of librariesFromLdd(await runChecked('ldd', [elf], { timeoutMs: 30_000 }))) libs.add(lib);
    for (const lib of libs) copyInto(scratch, lib, lib);
    for (const file of fs.readdirSync(CPU_MAP)) copyInto(scratch, path.join(CPU_MAP, file), path.join(CPU_MAP, file));
    for (const file of NESTED_FIRMWARE) copyInto(scratch, file, file);
    for (const [rel, text] of Object.entries(etcFiles(hook))) {
      const target = path.join(scratch, LIBVIRT_ETC_TEMPLATE, rel);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, text, { mode: rel === HOOK_PATH.slice('/etc/'.length) ? 0o755 : 0o644 });
    }
    // The hook's "#!/bin/bash" and libvirt's PATH both expect the merged /usr of Debian.
    for (const d of ['bin', 'sbin']) fs.symlinkSync(`usr/${d}`, path.join(scratch, d));
    await buildWorkload(path.join(scratch, NESTED_WORKLOAD));
  });
  return { dir, bytes: treeBytes(dir) };
}

function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}
