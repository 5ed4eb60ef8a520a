// What gpu-hookd changed on a VM's behalf, on disk, one file per VM and stage:
// <state>/cpu/<vm>.prepare.json (isolation, governors, IRQs; kept while the VM runs, undone at
// release) and <state>/cpu/<vm>.started.json (thread pins; removed once they hold, since QEMU's
// threads take them to their grave). Like the GPU journal: the header (plan with every previous
// value) is written whole and durable before the first step, then one `{"inFlight":N}` line is
// appended before each step and `{"applied":true}` when the plan is through. A file without
// "applied" after a crash is a stage that did not finish: recovery undoes steps 0..inFlight.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeFileDurable, writeFileAtomic } from '../engine/atomic-file';
import type { StepSpec } from '../engine/step-spec';
import type { VmCpuLayout } from './vm-cpu-layout';

export type CpuStage = 'prepare' | 'started';

export interface CpuJournalHeader {
  version: 1;
  vm: string;
  stage: CpuStage;
  /** The kernel's boot_id: runtime AllowedCPUs, governors and IRQ affinity do not survive a reboot. */
  bootId: string | null;
  layout: VmCpuLayout;
  plan: StepSpec[];
  startedAt: string;
}

export interface CpuJournalEntry extends CpuJournalHeader {
  /** Every step up to and including this one may have started (-1: none). */
  inFlight: number;
  applied: boolean;
}

export type CpuJournalFile = { file: string; entry: CpuJournalEntry } | { file: string; error: string };

export function cpuStateDir(stateDir: string): string {
  return path.join(stateDir, 'cpu');
}

/** A file name for any libvirt domain name (which may hold anything but "/" and NUL, even ".."). */
export function cpuJournalFile(stateDir: string, vm: string, stage: CpuStage): string {
  return path.join(cpuStateDir(stateDir), `${encodeURIComponent(vm).replace(/\./g, '%2E')}.${stage}.json`);
}

export class CpuJournal {
  readonly file: string;
  private handle: fs.promises.FileHandle | undefined;

  constructor(stateDir: string, private readonly header: CpuJournalHeader) {
    this.file = cpuJournalFile(stateDir, header.vm, header.stage);
  }

  /** Resolves once the file says that step `index` may have started. */
  markInFlight(index: number): Promise<void> {
    return this.append({ inFlight: index });
  }

  /** The whole plan went through (an empty plan still leaves the record of the layout). */
  markApplied(): Promise<void> {
    return this.append({ applied: true });
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }

  async remove(): Promise<void> {
    await this.close();
    await removeFileDurable(this.file);
  }

  private async append(mark: object): Promise<void> {
    const line = `${JSON.stringify(mark)}\n`;
    if (this.handle === undefined) {
      await writeFileAtomic(this.file, `${JSON.stringify(this.header)}\n${line}`);
      this.handle = await fs.promises.open(this.file, 'a');
      return;
    }
    await this.handle.write(line);
    await this.handle.datasync();
  }
}

export function readCpuJournals(stateDir: string): CpuJournalFile[] {
  const dir = cpuStateDir(stateDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => /\.(prepare|started)\.json$/.test(n)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.map((name) => {
    const file = path.join(dir, name);
    try {
      return { file, entry: parseCpuJournal(fs.readFileSync(file, 'utf8')) };
    } catch (e) {
      return { file, error: e instanceof Error ? e.message : String(e) };
    }
  });
}

export function readCpuJournal(stateDir: string, vm: string, stage: CpuStage): CpuJournalEntry | undefined {
  let text: string;
  try {
    text = fs.readFileSync(cpuJournalFile(stateDir, vm, stage), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseCpuJournal(text);
}

export function parseCpuJournal(text: string): CpuJournalEntry {
  // Only newline-terminated lines count: a crash mid-append leaves at most one torn line at the end.
  const lines = text.split('\n').slice(0, -1).map(parseLine);
  const header = lines[0] as Partial<CpuJournalHeader> | undefined;
  if (!isHeader(header)) throw new Error('it is not a gpu-hookd CPU record of this version');
  let inFlight = -1;
  let applied = false;
  for (const mark of lines.slice(1) as { inFlight?: unknown; applied?: unknown }[]) {
    const n = mark?.inFlight;
    if (Number.isInteger(n) && (n as number) >= 0 && (n as number) < header.plan.length) inFlight = Math.max(inFlight, n as number);
    if (mark?.applied === true) applied = true;
  }
  return { ...header, inFlight: applied ? header.plan.length - 1 : inFlight, applied };
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function isHeader(h: Partial<CpuJournalHeader> | undefined): h is CpuJournalHeader {
  return (
    typeof h === 'object' &&
    h !== null &&
    h.version === 1 &&
    typeof h.vm === 'string' &&
    (h.stage === 'prepare' || h.stage === 'started') &&
    (h.bootId === null || typeof h.bootId === 'string') &&
    typeof h.layout === 'object' &&
    h.layout !== null &&
    Array.isArray(h.plan) &&
    h.plan.every((s) => s !== null && typeof s === 'object' && typeof (s as { kind?: unknown }).kind === 'string')
  );
}
