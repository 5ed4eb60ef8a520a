// What gpu-hookd changed on a VM's behalf, on disk, one file per VM and stage:
// <state>/cpu/<vm>.prepare.json (isolation, governors, IRQs; kept while the VM runs, undone at
// release) and <state>/cpu/<vm>.started.json (thread pins; removed once they hold, since QEMU's
// threads take them to their grave). A plan journal (engine/plan-journal.ts) as the GPU's transitions write:
// the header (the plan with every previous value) and one mark `{"inFlight":N}` covering the whole
// plan, durable before the first step, then `{"applied":true}` when the plan is through. One mark
// is enough because every CPU step's undo reads the current value first and writes only what
// differs, so undoing a step that never ran changes nothing; a mark per step would cost a disk flush
// per step (33 for a 14-vCPU VM on the seed) for no stronger guarantee. A file without "applied"
// after a crash is a stage that did not finish: recovery undoes the steps its mark covers.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isPlanJournalHeader, parsePlanJournal, PlanJournal, readPlanJournals, type JournalFound } from '../engine/plan-journal';
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

export type CpuJournalFile = JournalFound<CpuJournalEntry>;

export function cpuStateDir(stateDir: string): string {
  return path.join(stateDir, 'cpu');
}

/** A file name for any libvirt domain name (which may hold anything but "/" and NUL, even ".."). */
export function cpuJournalFile(stateDir: string, vm: string, stage: CpuStage): string {
  return path.join(cpuStateDir(stateDir), `${encodeURIComponent(vm).replace(/\./g, '%2E')}.${stage}.json`);
}

/** A stage's journal: one mark covering the whole plan before it starts, "applied" once it went through. */
export function cpuJournal(stateDir: string, header: CpuJournalHeader): PlanJournal {
  return new PlanJournal(cpuJournalFile(stateDir, header.vm, header.stage), header);
}

export function readCpuJournals(stateDir: string): CpuJournalFile[] {
  return readPlanJournals(cpuStateDir(stateDir), (n) => /\.(prepare|started)\.json$/.test(n), parseCpuJournal);
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
  const { header, marks } = parsePlanJournal(text, isHeader, 'it is not a gpu-hookd CPU record of this version');
  return { ...header, inFlight: marks.applied ? header.plan.length - 1 : marks.inFlight, applied: marks.applied };
}

function isHeader(h: unknown): h is CpuJournalHeader {
  const j = h as Partial<CpuJournalHeader>;
  return (
    isPlanJournalHeader(h) &&
    typeof j.vm === 'string' &&
    (j.stage === 'prepare' || j.stage === 'started') &&
    typeof j.layout === 'object' &&
    j.layout !== null
  );
}
