// The system lab's Debian images: mmdebstrap from Debian's own archive (no other source), systemd as
// PID 1, logind, lightdm logging a user in on the emulated GPU, libvirt with QEMU, and the release's
// own nodejs. gpu-hookd is not in the image: each boot installs the .deb this checkout builds with
// apt, so an edit to the project never rebuilds an image. Cached by a key of what an image is built
// from (release, archive lines, packages, overlay, customize script, mmdebstrap's version).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError, runChecked } from '../runner/command';
import { cachedArtifact, contentKey } from '../runner/lab-cache';

export type Release = 'bookworm' | 'trixie';

export interface SystemImage {
  release: Release;
  dir: string;
  /** Raw ext4 of the root filesystem; boots use it read-only (QEMU's snapshot=on). */
  rootfs: string;
  vmlinuz: string;
  initrd: string;
}

const IMAGE_DIR = path.resolve(__dirname, '../../../../test/lab/system/image');
const OVERLAY = path.join(IMAGE_DIR, 'overlay');
const CUSTOMIZE = path.join(IMAGE_DIR, 'customize.sh');

const ARCHIVE: Record<Release, string[]> = {
  bookworm: [
    'deb http://deb.debian.org/debian bookworm main',
    'deb http://deb.debian.org/debian bookworm-updates main',
    'deb http://deb.debian.org/debian-security bookworm-security main',
  ],
  trixie: [
    'deb http://deb.debian.org/debian trixie main',
    'deb http://deb.debian.org/debian trixie-updates main',
    'deb http://deb.debian.org/debian-security trixie-security main',
  ],
};

/** What the guest runs besides gpu-hookd; the .deb's own Depends are among them, so apt installs it offline. */
export const SYSTEM_PACKAGES = [
  'systemd', 'systemd-sysv', 'dbus', 'udev', 'kmod', 'passwd', 'libpam-systemd', 'procps', 'psmisc', 'pciutils',
  'linux-image-amd64', 'initramfs-tools',
  'libvirt-daemon-system', 'libvirt-clients', 'qemu-system-x86',
  'lightdm', 'xserver-xorg-core', 'xserver-xorg-video-fbdev',
  'nodejs',
];

/**
 * lightdm depends on a greeter, and Debian's greeters pull GTK; autologin never starts one. This
 * empty package provides the name (built here with dpkg-deb, installed from a local path).
 */
const GREETER_CONTROL = [
  'Package: syslab-no-greeter',
  'Version: 1.0',
  'Architecture: all',
  'Maintainer: gpu-hookd maintainers <maintainers@gpuhookd.org>',
  'Provides: lightdm-greeter',
  'Description: no greeter: the system lab logs its user in automatically',
  '',
].join('\n');

/** mmdebstrap of ~600 packages is ~1 min with a warm apt cache; a cold one downloads ~180 MB. */
const BUILD_TIMEOUT_MS = 15 * 60_000;

export async function prepareSystemImage(cacheDir: string, release: Release): Promise<SystemImage> {
  const version = await mmdebstrapVersion();
  const key = contentKey(release, version, ...ARCHIVE[release], ...SYSTEM_PACKAGES, GREETER_CONTROL, fs.readFileSync(CUSTOMIZE), ...overlayParts());
  const dir = await cachedArtifact(path.join(cacheDir, `system-${release}-${key}`), (scratch) => buildImage(cacheDir, release, scratch));
  return { release, dir, rootfs: path.join(dir, 'rootfs.img'), vmlinuz: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img') };
}

async function mmdebstrapVersion(): Promise<string> {
  try {
    return (await runChecked('mmdebstrap', ['--version'], { timeoutMs: 30_000 })).trim();
  } catch (e) {
    if (e instanceof LabError && /not installed/.test(e.message)) {
      throw new LabError('mmdebstrap is not installed: the system lab builds its Debian images with it (apt install mmdebstrap e2fsprogs)');
    }
    throw e;
  }
}

/** Each overlay file's path, mode and bytes, in a stable order. */
function overlayParts(): (string | Buffer)[] {
  const parts: (string | Buffer)[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(OVERLAY, rel)).sort()) {
      const r = path.join(rel, name);
      const st = fs.statSync(path.join(OVERLAY, r));
      if (st.isDirectory()) walk(r);
      else parts.push(r, (st.mode & 0o777).toString(8), fs.readFileSync(path.join(OVERLAY, r)));
    }
  };
  walk('.');
  return parts;
}

async function buildImage(cacheDir: string, release: Release, scratch: string): Promise<void> {
  fs.mkdirSync(scratch, { recursive: true });
  // Downloaded packages are kept apart from the images, so a rebuild after an overlay edit downloads nothing.
  const aptCache = path.join(cacheDir, `system-apt-${release}`);
  fs.mkdirSync(aptCache, { recursive: true });
  const debs = path.join(scratch, 'debs');
  const greeter = await buildGreeter(debs);
  const rootfs = path.join(scratch, 'rootfs');
  await runChecked(
    'mmdebstrap',
    [
      '--variant=apt', '--mode=root',
      '--aptopt=APT::Install-Recommends "false"',
      '--dpkgopt=path-exclude=/usr/share/man/*', '--dpkgopt=path-exclude=/usr/share/locale/*',
      '--dpkgopt=path-exclude=/usr/share/doc/*', '--dpkgopt=path-include=/usr/share/doc/*/copyright',
      '--dpkgopt=path-exclude=/usr/share/info/*',
      `--include=${[...SYSTEM_PACKAGES, greeter].join(',')}`,
      '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
      `--setup-hook=sync-in ${aptCache} /var/cache/apt/archives/`,
      // the overlay first: the initramfs hook must be there when the kernel package makes the initramfs
      `--essential-hook=sync-in ${OVERLAY} /`,
      // a local .deb in --include is read inside the chroot, at the same path
      `--essential-hook=mkdir -p "$1"${debs} && cp ${greeter} "$1"${greeter}`,
      `--customize-hook=sync-out /var/cache/apt/archives ${aptCache}`,
      `--customize-hook=rm -rf "$1"${debs}`,
      `--customize-hook=bash ${CUSTOMIZE} "$1"`,
      release,
      rootfs,
      ...ARCHIVE[release],
    ],
    { timeoutMs: BUILD_TIMEOUT_MS },
  );
  const bootDir = path.join(rootfs, 'boot');
  const kernel = fs.readdirSync(bootDir).find((f) => f.startsWith('vmlinuz-'));
  const initrd = fs.readdirSync(bootDir).find((f) => f.startsWith('initrd.img-'));
  if (!kernel || !initrd) throw new LabError(`the ${release} image has no kernel or initramfs in /boot: the package linux-image-amd64 did not install`);
  fs.copyFileSync(path.join(bootDir, kernel), path.join(scratch, 'vmlinuz'));
  fs.copyFileSync(path.join(bootDir, initrd), path.join(scratch, 'initrd.img'));
  // room for what a boot writes (the .deb, logs), in QEMU's throwaway overlay
  const usedMb = Number((await runChecked('du', ['-sm', rootfs], { timeoutMs: 120_000 })).split('\t')[0]);
  const image = path.join(scratch, 'rootfs.img');
  await runChecked('truncate', ['-s', `${Math.ceil(usedMb * 1.3) + 400}M`, image], { timeoutMs: 30_000 });
  await runChecked('mkfs.ext4', ['-q', '-L', 'syslab', '-d', rootfs, image], { timeoutMs: 5 * 60_000 });
  fs.rmSync(rootfs, { recursive: true, force: true });
  fs.rmSync(debs, { recursive: true, force: true });
}

async function buildGreeter(debs: string): Promise<string> {
  const tree = path.join(debs, 'tree');
  fs.mkdirSync(path.join(tree, 'DEBIAN'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'DEBIAN', 'control'), GREETER_CONTROL);
  const deb = path.join(debs, 'syslab-no-greeter_1.0_all.deb');
  await runChecked('dpkg-deb', ['--root-owner-group', '--build', tree, deb], { timeoutMs: 60_000 });
  fs.rmSync(tree, { recursive: true, force: true });
  return deb;
}
