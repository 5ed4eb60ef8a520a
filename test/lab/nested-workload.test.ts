// The nested guest's workload on its own, without a lab boot: built from its C source as the lab's
// setup builds it, then run by this machine's QEMU with emulated copies of the two functions (no
// passthrough here: the devices are QEMU's own), so a fault in the workload shows up apart from VFIO.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { makeTempRoot } from '../support/temp-root';
import type { WorkloadReport } from './nested/nested-job';
import { buildWorkload } from './nested/nested-sysroot';
import { runBounded } from './runner/command';

const QEMU_TIMEOUT_MS = 60_000;
const RESULT = 'WORKLOAD-RESULT ';

async function runWorkload(elf: string, devices: string[]): Promise<{ exitCode: number | null; report: WorkloadReport }> {
  const args = ['-machine', 'q35', '-accel', 'tcg', '-m', '64', '-display', 'none', '-nodefaults', '-no-reboot', '-serial', 'stdio'];
  args.push('-device', 'isa-debug-exit,iobase=0xf4,iosize=4', '-audiodev', 'none,id=noaudio', '-kernel', elf);
  for (const d of devices) args.push('-device', d);
  const r = await runBounded('qemu-system-x86_64', args, { timeoutMs: QEMU_TIMEOUT_MS });
  assert.equal(r.timedOut, false, 'the workload did not end');
  assert.equal(r.stderr, '');
  const line = r.stdout.split('\n').find((l) => l.startsWith(RESULT));
  assert.ok(line, `no result line in:\n${r.stdout}`);
  return { exitCode: r.code, report: JSON.parse(line.slice(RESULT.length)) as WorkloadReport };
}

describe('lab nested workload (built from source, run on emulated devices)', () => {
  let dir: ReturnType<typeof makeTempRoot>;
  let elf: string;
  before(async function () {
    this.timeout(120_000);
    dir = makeTempRoot('gpu-hookd-workload-');
    elf = path.join(dir.root, 'workload.elf');
    await buildWorkload(elf);
  });
  after(() => dir?.cleanup());

  it('drives a bochs VGA (MMIO) and an HDA controller (DMA round trip to its codec) and exits with status 1', async function () {
    this.timeout(QEMU_TIMEOUT_MS);
    const { exitCode, report } = await runWorkload(elf, ['VGA', 'ich9-intel-hda,id=hda', 'hda-output,bus=hda.0,audiodev=noaudio']);
    assert.equal(exitCode, 1);
    assert.equal(report.vga.vbeId, 'b0c5');
    assert.equal(report.vga.framebufferReadback, '5a17c0de');
    assert.deepEqual([report.hda.dma, report.hda.codecVendor, report.hda.codecs], [true, '1af40012', '0001']);
    assert.equal(report.ok, true);
  });

  it('reports failure (status 3) when the audio function is missing', async function () {
    this.timeout(QEMU_TIMEOUT_MS);
    const { exitCode, report } = await runWorkload(elf, ['VGA']);
    assert.equal(exitCode, 3);
    assert.equal(report.hda.found, false);
    assert.equal(report.ok, false);
  });

  it('reports failure when the HDA controller has no codec to answer the DMA', async function () {
    this.timeout(QEMU_TIMEOUT_MS);
    const { exitCode, report } = await runWorkload(elf, ['VGA', 'ich9-intel-hda']);
    assert.equal(exitCode, 3);
    assert.deepEqual([report.hda.found, report.hda.codecs, report.hda.ok], [true, '0000', false]);
  });
});
