// The transition journal (a plan journal, plan-journal.ts): before each step, which transition is running and which steps may have
// started reaches disk, so that after a crash recovery can undo every step that might have started.
// One file per GPU (GPUs move in parallel); removed when the transition completes or was rolled back.
//
// Layout (line-journal-file.ts): the header (transition, plan, ...) with the first mark
// `{"inFlight":N}` is written whole and durable before the first step; later marks are appended
// and fdatasync'ed. Rewriting the whole file per mark would cost about four times as much for the
// same guarantee (bench/engine-bench.ts prints both).
//
// A mark covers the whole group move: the stretch of consecutive steps on functions (each function's
// override, unbind and probe), whichever wave plan-waves.ts puts each in. Undo of such a step reads
// the function first and changes nothing when the step never ran, so saying "may have started" early
// keeps the guarantee, and a group move costs one disk flush where it would cost one per wave or per
// step (the flushes dominate a transition's cost on a disk, bench/engine-bench.ts).

import * as path from 'node:path';
import { isPciAddress } from '../host/pci-address';
import { isPlanJournalHeader, parsePlanJournal, PlanJournal, readPlanJournals, type JournalFound } from './plan-journal';
import { stepDevice, type StepSpec } from './step-spec';

export type TransitionKind = 'detach' | 'attach';

export interface JournalHeader {
  version: 1;
  id: string;
  kind: TransitionKind;
  gpu: string;
  /** VM name, or "" for a manual transition. */
  owner: string;
  plan: StepSpec[];
  startedAt: string;
  /** The kernel's boot_id when the transition ran: after a reboot there is nothing left to undo. */
  bootId: string | null;
  /** This detach created the GPU's record, so undoing it removes the record again. */
  createdRecord: boolean;
}

export interface JournalEntry extends JournalHeader {
  /** Every step up to and including this index may have started. */
  inFlight: number;
}

export function journalDir(stateDir: string): string {
  return path.join(stateDir, 'journal');
}

export class Journal {
  readonly file: string;
  private readonly journal: PlanJournal;
  /** The furthest step the journal on disk covers; -1 before the first mark. */
  private covered = -1;

  constructor(
    stateDir: string,
    private readonly header: JournalHeader,
  ) {
    this.file = path.join(journalDir(stateDir), `${header.gpu}.json`);
    this.journal = new PlanJournal(this.file, header);
  }

  /** Resolves once the journal on disk says that the step at `index` (and its run) may have started. */
  async cover(index: number): Promise<void> {
    if (index <= this.covered) return;
    const until = coverageEnd(this.header.plan, index);
    await this.journal.cover(until);
    this.covered = until;
  }

  /** Closes the file and leaves it for recovery (a rollback that failed). */
  close(): Promise<void> {
    return this.journal.close();
  }

  remove(): Promise<void> {
    return this.journal.remove();
  }
}

/**
 * The last index one mark made at `index` covers: through the end of the stretch of consecutive steps
 * on functions that `index` is in, on any function of the group; a step on no function (a module,
 * /dev/vfio, the display manager, a console) alone.
 */
export function coverageEnd(plan: readonly StepSpec[], index: number): number {
  let end = index;
  if (stepDevice(plan[index]) === undefined) return end;
  while (end + 1 < plan.length && stepDevice(plan[end + 1]) !== undefined) end++;
  return end;
}

/** How many marks a plan run to its end writes: one per stretch of steps on functions, one per other step. */
export function marksOf(plan: readonly StepSpec[]): number {
  let marks = 0;
  for (let index = 0; index < plan.length; index = coverageEnd(plan, index) + 1) marks++;
  return marks;
}

export type JournalFile = JournalFound<JournalEntry>;

/** Every journal left in the state directory, parsed and checked; unreadable ones carry an error. */
export function readJournals(stateDir: string): JournalFile[] {
  return readPlanJournals(journalDir(stateDir), (n) => n.endsWith('.json') && !n.startsWith('.'), parseJournal);
}

export function parseJournal(text: string): JournalEntry {
  const { header, marks } = parsePlanJournal(text, isHeader, 'it is not a gpu-hookd journal of this version');
  // No readable mark: assume every step may have started (undo is safe for steps that never ran).
  return { ...header, inFlight: marks.inFlight >= 0 ? marks.inFlight : header.plan.length - 1 };
}

function isHeader(h: unknown): h is JournalHeader {
  const j = h as Partial<JournalHeader>;
  return (
    isPlanJournalHeader(h) &&
    typeof j.id === 'string' &&
    (j.kind === 'detach' || j.kind === 'attach') &&
    typeof j.gpu === 'string' &&
    isPciAddress(j.gpu) &&
    typeof j.owner === 'string' &&
    (j.plan?.length ?? 0) > 0 &&
    typeof j.createdRecord === 'boolean'
  );
}
