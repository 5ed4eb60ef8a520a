// One boot of a system lab image: the .deb this checkout builds, the nested VM's workload and the
// guest's story go on a 9p share (tag "syslab", also where the guest writes what it saw); QEMU boots
// the image's own kernel and initramfs on the lab's machine shape, its disk a throwaway overlay of
// the cached image (snapshot=on), so every boot starts from the image as built.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildWorkload } from '../nested/nested-sysroot';
import { LabError, runBounded, runChecked } from '../runner/command';
import { labDomainXml } from '../libvirt/lab-domain';
import { GUEST_GPU, GUEST_GPU_AUDIO, gpuWithAudio } from '../runner/qemu-machine';
import type { SystemImage } from './system-image';

const REPO = path.resolve(__dirname, '../../../..');
const STORY = path.join(REPO, 'test/lab/system/guest/story.sh');
/** The story's nested VM (and `<name>-managed`, the same with managed='yes'); the share holds their XML. */
const GUEST_DOMAIN = 'syslab-vm';
/** Where the story puts the workload: libvirt's QEMU must be allowed to read it. */
const GUEST_WORKLOAD = '/var/lib/libvirt/boot/workload.elf';

/** Boot, apt install, the daemon's start and every step of the story: 5-8 min under TCG, up to 15 on a loaded machine. */
export const SYSTEM_BOOT_TIMEOUT_MS = 20 * 60_000;

export interface SystemBoot {
  /** The guest's key=value facts; a key seen twice keeps its last value. */
  facts: Record<string, string>;
  /** out/NAME.txt the guest wrote, by NAME. */
  texts: Record<string, string>;
  /** out/bus-monitor.jsonl: busctl monitor of systemd1 and login1 while gpu-hookd ran. */
  busMonitor: string;
  console: string;
  wallMs: number;
}

/** The .deb as `packaging/debian/build-deb.sh` builds it from this checkout (which must be built). */
export async function buildDebInto(dir: string): Promise<string> {
  const out = await runChecked('bash', [path.join(REPO, 'packaging/debian/build-deb.sh'), '--out', dir], { timeoutMs: 5 * 60_000 });
  return out.trim().split('\n').pop() as string;
}

export function systemQemuArgs(image: SystemImage, shareDir: string): string[] {
  return [
    '-machine', 'q35,kernel-irqchip=split', '-accel', 'tcg', '-cpu', 'max', '-smp', '2', '-m', '3072',
    '-nodefaults', '-vga', 'none', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-device', 'intel-iommu,intremap=on',
    '-device', 'pcie-root-port,id=gpuport,bus=pcie.0,chassis=1,slot=1',
    '-audiodev', 'none,id=noaudio',
    ...gpuWithAudio('VGA').flatMap((d) => ['-device', d]),
    '-drive', `file=${image.rootfs},if=virtio,format=raw,cache=unsafe,snapshot=on`,
    '-kernel', image.vmlinuz, '-initrd', image.initrd,
    '-append', 'root=/dev/vda rw console=ttyS0 intel_iommu=on iommu=pt panic=-1 no_timer_check',
    '-virtfs', `local,path=${shareDir},mount_tag=syslab,security_model=none`,
  ];
}

export async function bootSystem(image: SystemImage, timeoutMs = SYSTEM_BOOT_TIMEOUT_MS): Promise<SystemBoot> {
  const share = fs.mkdtempSync(path.join(os.tmpdir(), `gpu-hookd-syslab-${image.release}-`));
  let keep = true;
  try {
    await buildDebInto(share);
    await buildWorkload(path.join(share, 'workload.elf'));
    fs.copyFileSync(STORY, path.join(share, 'story.sh'));
    for (const managed of ['no', 'yes'] as const) {
      const name = managed === 'no' ? GUEST_DOMAIN : `${GUEST_DOMAIN}-managed`;
      const xml = labDomainXml({ name, kernel: GUEST_WORKLOAD, serialLog: `/var/log/libvirt/qemu/${name}.serial`, hostdevs: [GUEST_GPU, GUEST_GPU_AUDIO], managed });
      fs.writeFileSync(path.join(share, `${name}.xml`), xml);
    }
    const out = path.join(share, 'out');
    fs.mkdirSync(out);
    const run = await runBounded('qemu-system-x86_64', systemQemuArgs(image, share), { timeoutMs });
    fs.writeFileSync(path.join(share, 'console.log'), run.stdout);
    const where = `(console and output kept in ${share})`;
    if (run.timedOut) throw new LabError(`system lab ${image.release}: the guest did not power off within ${timeoutMs / 1000} s and QEMU was killed ${where}:\n${tail(run.stdout)}`);
    if (run.code !== 0) throw new LabError(`system lab ${image.release}: QEMU exited with ${run.code ?? run.signal}: ${run.stderr.trim() || 'no message'} ${where}:\n${tail(run.stdout)}`);
    const factsFile = path.join(out, 'facts');
    if (!fs.existsSync(factsFile)) throw new LabError(`system lab ${image.release}: the guest's story wrote nothing ${where}:\n${tail(run.stdout)}`);
    const texts: Record<string, string> = {};
    for (const f of fs.readdirSync(out).filter((n) => n.endsWith('.txt'))) texts[f.slice(0, -4)] = fs.readFileSync(path.join(out, f), 'utf8');
    const monitor = path.join(out, 'bus-monitor.jsonl');
    const boot = {
      facts: parseFacts(fs.readFileSync(factsFile, 'utf8')),
      texts,
      busMonitor: fs.existsSync(monitor) ? fs.readFileSync(monitor, 'utf8') : '',
      console: run.stdout,
      wallMs: run.wallMs,
    };
    // GPU_HOOKD_SYSLAB_KEEP=1 keeps a good run's output too (its bus-monitor.jsonl makes a new fixture)
    keep = boot.facts['story.done'] !== 'yes' || Boolean(process.env.GPU_HOOKD_SYSLAB_KEEP);
    if (keep) console.log(`    system lab ${image.release}: story ${boot.facts['story.done'] === 'yes' ? 'finished' : 'did not finish'} ${where}`);
    return boot;
  } finally {
    if (!keep) fs.rmSync(share, { recursive: true, force: true });
  }
}

export function parseFacts(text: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) facts[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return facts;
}

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
