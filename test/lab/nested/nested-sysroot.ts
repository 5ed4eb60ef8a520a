// What the lab guest needs to run a VM of its own: this machine's qemu-system-x86_64 with the shared
// libraries it and its TCG accelerator link, Debian's separately packaged TCG module (without it
// "-accel tcg" fails: "could not load module for type 'tcg-accel-ops'"), the firmware a q35 machine
// with a multiboot -kernel opens, and the nested guest's workload, built here from its C source.
// The guest mounts the result over 9p and runs QEMU chrooted into it (~50 MB, cached by content).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError, runChecked } from '../runner/command';
import { cachedArtifact, contentKey } from '../runner/lab-cache';
import { copyInto, librariesFromLdd } from '../runner/node-sysroot';

export interface NestedSysroot {
  dir: string;
  /** "QEMU emulator version 7.2.22 (Debian ...)" */
  qemuVersion: string;
}

/** Paths inside the sysroot, which are also the paths the chrooted nested QEMU sees. */
export const NESTED_QEMU = '/usr/bin/qemu-system-x86_64';
export const NESTED_WORKLOAD = '/workload.elf';
/** Mount points the guest binds its /sys, /proc, /dev and a tmpfs onto before it chroots. */
export const NESTED_MOUNT_POINTS = ['sys', 'proc', 'dev', 'tmp'];

const QEMU = '/usr/bin/qemu-system-x86_64';
const TCG_MODULE = '/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so';
/** What QEMU opens for "-machine q35 -accel tcg -kernel <multiboot ELF>" (found with strace). The
 *  display function's option ROM is not among them: QEMU reads it from the assigned device. */
export const NESTED_FIRMWARE = ['/usr/share/seabios/bios-256k.bin', '/usr/share/qemu/kvmvapic.bin', '/usr/share/qemu/multiboot_dma.bin'];
const FIRMWARE_PACKAGE: Record<string, string> = { '/usr/share/seabios/': 'seabios', '/usr/share/qemu/': 'qemu-system-data' };

const WORKLOAD_DIR = path.resolve(__dirname, '../../../../test/lab/nested/workload');
const WORKLOAD_SOURCES = ['workload.c', 'workload.ld'];
/** Freestanding 32-bit code: no headers, no libc, so no multilib is needed; nothing may call memset. */
export const WORKLOAD_CFLAGS = [
  '-m32', '-O2', '-ffreestanding', '-fno-pic', '-fno-stack-protector', '-fno-asynchronous-unwind-tables',
  '-fno-tree-loop-distribute-patterns', '-nostdlib', '-Wall', '-Wextra', '-Werror',
];
const TOOL_TIMEOUT_MS = 2 * 60_000;

export async function prepareNestedSysroot(cacheDir: string): Promise<NestedSysroot> {
  for (const file of [QEMU, TCG_MODULE, ...NESTED_FIRMWARE]) {
    if (!fs.existsSync(file)) throw new LabError(`${file} is missing: install the apt package ${packageOf(file)} and run again`);
  }
  const qemuVersion = (await runChecked(QEMU, ['--version'], { timeoutMs: 30_000 })).split('\n')[0];
  const qemuBinary = fs.realpathSync(QEMU);
  const sources = WORKLOAD_SOURCES.map((f) => fs.readFileSync(path.join(WORKLOAD_DIR, f)));
  const key = contentKey(qemuVersion, String(fs.statSync(qemuBinary).mtimeMs), ...NESTED_FIRMWARE, ...WORKLOAD_CFLAGS, ...sources);
  const dir = await cachedArtifact(path.join(cacheDir, `nested-sysroot-${key}`), async (scratch) => {
    for (const d of NESTED_MOUNT_POINTS) fs.mkdirSync(path.join(scratch, d), { recursive: true });
    copyInto(scratch, qemuBinary, NESTED_QEMU);
    copyInto(scratch, TCG_MODULE, TCG_MODULE);
    const libs = new Set<string>();
    for (const binary of [qemuBinary, TCG_MODULE]) {
      for (const lib of librariesFromLdd(await runChecked('ldd', [binary], { timeoutMs: 30_000 }))) libs.add(lib);
    }
    for (const lib of libs) copyInto(scratch, lib, lib);
    for (const file of NESTED_FIRMWARE) copyInto(scratch, file, file);
    await buildWorkload(path.join(scratch, NESTED_WORKLOAD));
  });
  return { dir, qemuVersion };
}

/** gcc + ld: the workload's source to a multiboot ELF at `target`. */
export async function buildWorkload(target: string): Promise<void> {
  const object = `${target}.o`;
  try {
    await runChecked('gcc', [...WORKLOAD_CFLAGS, '-c', path.join(WORKLOAD_DIR, 'workload.c'), '-o', object], { timeoutMs: TOOL_TIMEOUT_MS });
    await runChecked('ld', ['-m', 'elf_i386', '-T', path.join(WORKLOAD_DIR, 'workload.ld'), '-o', target, object], { timeoutMs: TOOL_TIMEOUT_MS });
  } finally {
    fs.rmSync(object, { force: true });
  }
}

function packageOf(file: string): string {
  if (file === QEMU || file === TCG_MODULE) return 'qemu-system-x86';
  return Object.entries(FIRMWARE_PACKAGE).find(([dir]) => file.startsWith(dir))?.[1] ?? 'qemu-system-x86';
}
