// What gpu-hookd changed on a VM's behalf, on disk, one file per VM and stage:
// <state>/cpu/<vm>.prepare.json (isolation, governors, IRQs; kept while the VM runs, undone at
// release) and <state>/cpu/<vm>.started.json (thread pins; removed once they hold, since QEMU's
// threads take them to their grave). JSON lines as the GPU journal writes them (line-journal-file.ts):
// the header (the plan with every previous value) and one mark `{"inFlight":N}` covering the whole
// plan, durable before the first step, then `{"applied":true}` when the plan is through. One mark
// is enough because every CPU step's undo reads the current value first and writes only what
// differs, so undoing a step that never ran changes nothing; a mark per step would cost a disk flush
// per step (33 for a 14-vCPU VM on the seed) for no stronger guarantee. A file without "applied"
// after a crash is a stage that did not finish: recovery undoes the steps its mark covers.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineJournalFile, readJournalLines } from '../engine/line-journal-file';
import { isMissing } from '../host/host-io';
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
  private readonly lines: LineJournalFile;

  constructor(
    stateDir: string,
    private readonly header: CpuJournalHeader,
  ) {
    this.lines = new LineJournalFile(cpuJournalFile(stateDir, header.vm, header.stage), header);
  }

  get file(): string {
    return this.lines.file;
  }

  /** Resolves once the file says that every step of the plan may have started. */
  coverPlan(): Promise<void> {
    return this.lines.append({ inFlight: this.header.plan.length - 1 });
  }

  /** The whole plan went through (an empty plan still leaves the record of the layout). */
  markApplied(): Promise<void> {
    return this.lines.append({ applied: true });
  }

  close(): Promise<void> {
    return this.lines.close();
  }

  remove(): Promise<void> {
    return this.lines.remove();
  }
}

export function readCpuJournals(stateDir: string): CpuJournalFile[] {
  const dir = cpuStateDir(stateDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => /\.(prepare|started)\.json$/.test(n)).sort();
  } catch (e) {
    if (isMissing(e)) return [];
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
    if (isMissing(e)) return undefined;
    throw e;
  }
  return parseCpuJournal(text);
}

export function parseCpuJournal(text: string): CpuJournalEntry {
  const lines = readJournalLines(text);
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
