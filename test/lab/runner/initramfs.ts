// A few-MB initramfs: busybox-static, the lab's /init, the guest kernel modules the scenarios load
// (with their dependency closure) and links to the Node.js sysroot that arrives over 9p.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError, runBounded, runChecked } from './command';
import { LabKernel } from './kernel-package';
import { cachedArtifact, contentKey } from './lab-cache';
import { NodeSysroot } from './node-sysroot';

/** What the guest may load: VFIO, the GPU-like devices' drivers, and what the 9p shares need. */
export const GUEST_MODULES = [
  'vfio',
  'vfio_iommu_type1',
  'vfio_pci',
  'bochs',
  'virtio_gpu',
  'snd_hda_intel',
  'snd_hda_codec_generic',
  'virtio_pci',
  '9p',
  '9pnet_virtio',
];

/** Mount points of the 9p shares in the guest, by mount tag. */
export const GUEST_MOUNTS = { project: '/mnt/project', sysroot: '/mnt/sysroot', out: '/mnt/out' } as const;

const BUSYBOX = '/bin/busybox';
const TOOL_TIMEOUT_MS = 3 * 60_000;

export interface InitramfsInputs {
  kernel: LabKernel;
  sysroot: NodeSysroot;
  /** The guest's /init script. */
  initScript: string;
}

/** Module files ("kernel/drivers/vfio/vfio.ko") named by `modprobe --show-depends` output. */
export function moduleFilesFromShowDepends(output: string, kernelRoot: string): string[] {
  const files = new Set<string>();
  for (const line of output.split('\n')) {
    const m = /^insmod\s+(\S+)/.exec(line.trim());
    if (m) files.add(path.relative(kernelRoot, m[1]));
  }
  return [...files].sort();
}

export async function prepareInitramfs(cacheDir: string, inputs: InitramfsInputs): Promise<string> {
  await assertStaticBusybox();
  const init = fs.readFileSync(inputs.initScript);
  const busyboxStat = fs.statSync(BUSYBOX);
  const key = contentKey(init, GUEST_MODULES.join(','), inputs.sysroot.files.join(','), String(busyboxStat.size), String(busyboxStat.mtimeMs));
  const target = path.join(cacheDir, `initramfs-${inputs.kernel.version}-${key}.cpio.gz`);
  return cachedArtifact(target, async (scratch) => {
    const tree = `${scratch}.tree`;
    fs.rmSync(tree, { recursive: true, force: true });
    try {
      await populateTree(tree, inputs, init);
      await runChecked(
        'sh',
        ['-c', 'cd "$1" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet | gzip -1 > "$2"', 'sh', tree, scratch],
        { timeoutMs: TOOL_TIMEOUT_MS },
      );
    } finally {
      fs.rmSync(tree, { recursive: true, force: true });
    }
  });
}

async function populateTree(tree: string, inputs: InitramfsInputs, init: Buffer): Promise<void> {
  const { kernel, sysroot } = inputs;
  for (const dir of ['proc', 'sys', 'dev', 'tmp', 'run', 'root', ...Object.values(GUEST_MOUNTS)]) {
    fs.mkdirSync(path.join(tree, dir), { recursive: true });
  }
  fs.mkdirSync(path.join(tree, 'bin'), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(tree, 'bin/busybox'));
  fs.chmodSync(path.join(tree, 'bin/busybox'), 0o755);
  for (const applet of (await runChecked(BUSYBOX, ['--list-full'], { timeoutMs: 30_000 })).split('\n')) {
    if (!applet || applet === 'bin/busybox') continue;
    link(tree, applet, '/bin/busybox');
  }
  // Node and its libraries appear once the sysroot share is mounted.
  for (const file of sysroot.files) link(tree, file, path.posix.join(GUEST_MOUNTS.sysroot, file));

  const modulesDir = `lib/modules/${kernel.version}`;
  fs.mkdirSync(path.join(tree, modulesDir), { recursive: true });
  for (const file of await moduleClosure(kernel)) {
    fs.mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
    fs.copyFileSync(path.join(kernel.root, file), path.join(tree, file));
  }
  for (const meta of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
    fs.copyFileSync(path.join(kernel.root, modulesDir, meta), path.join(tree, modulesDir, meta));
  }
  await runChecked('depmod', ['-b', tree, kernel.version], { timeoutMs: TOOL_TIMEOUT_MS });

  fs.writeFileSync(path.join(tree, 'init'), init, { mode: 0o755 });
}

async function moduleClosure(kernel: LabKernel): Promise<string[]> {
  const files = new Set<string>();
  for (const name of GUEST_MODULES) {
    const out = await runChecked('modprobe', ['-d', kernel.root, '-S', kernel.version, '--show-depends', name], {
      timeoutMs: 30_000,
    });
    for (const f of moduleFilesFromShowDepends(out, kernel.root)) files.add(f);
  }
  return [...files].sort();
}

function link(tree: string, guestPath: string, target: string): void {
  const at = path.join(tree, guestPath);
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.rmSync(at, { force: true });
  fs.symlinkSync(target, at);
}

async function assertStaticBusybox(): Promise<void> {
  if (!fs.existsSync(BUSYBOX)) {
    throw new LabError(`${BUSYBOX} is missing: install the apt package busybox-static and run again`);
  }
  // ldd says "not a dynamic executable" (exit 1) for a static binary: anything else would not run in the guest.
  const r = await runBounded('ldd', [BUSYBOX], { timeoutMs: 30_000 });
  if (r.code === 0) {
    throw new LabError(`${BUSYBOX} is dynamically linked: install the apt package busybox-static instead of busybox`);
  }
}
