// The one journal and recovery mechanism under every journaled plan: a GPU's transition (journal.ts)
// and a VM's CPU stage (cpu/cpu-journal.ts) each write a header holding their plan (of their own step
// kinds) and the boot it ran in, then marks: `{"inFlight":N}` (every step up to N may have started)
// and `{"applied":true}` (the whole plan went through). What each header says beyond that, and when
// a journal ends, is theirs; reading, the boot check and undoing what the marks cover are here.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMissing } from '../host/host-io';
import { LineJournalFile, readJournalLines } from './line-journal-file';
import { undoSteps, type StepFailure, type StepRecord, type UndoOptions } from './plan-runner';
import type { StepSpec } from './step-spec';

export interface PlanJournalHeader {
  version: 1;
  plan: StepSpec[];
  /** The kernel's boot_id when the plan ran: after a reboot its changes are gone. */
  bootId: string | null;
}

/** What the marks of a journal say: the furthest step that may have started (-1: no mark), and
 *  whether the whole plan went through. */
export interface PlanMarks {
  inFlight: number;
  applied: boolean;
}

export class PlanJournal {
  private readonly lines: LineJournalFile;

  constructor(
    readonly file: string,
    header: PlanJournalHeader,
  ) {
    this.lines = new LineJournalFile(file, header);
  }

  /** Resolves once the file says that every step up to and including `until` may have started. */
  cover(until: number): Promise<void> {
    return this.lines.append({ inFlight: until });
  }

  /** Resolves once the file says that the whole plan went through. */
  markApplied(): Promise<void> {
    return this.lines.append({ applied: true });
  }

  /** Closes the file and leaves it on disk (for recovery, or as the record of what was applied). */
  close(): Promise<void> {
    return this.lines.close();
  }

  remove(): Promise<void> {
    return this.lines.remove();
  }
}

/** The header (checked by `isHeader`, else `notOurs` is thrown) and the marks of a journal's text;
 *  a torn last line and marks outside the plan are ignored. */
export function parsePlanJournal<H extends PlanJournalHeader>(text: string, isHeader: (h: unknown) => h is H, notOurs: string): { header: H; marks: PlanMarks } {
  const [header, ...marks] = readJournalLines(text) as [unknown, ...({ inFlight?: unknown; applied?: unknown } | undefined)[]];
  if (!isHeader(header)) throw new Error(notOurs);
  let inFlight = -1;
  let applied = false;
  for (const mark of marks) {
    const n = mark?.inFlight;
    if (Number.isInteger(n) && (n as number) >= 0 && (n as number) < header.plan.length) inFlight = Math.max(inFlight, n as number);
    if (mark?.applied === true) applied = true;
  }
  return { header, marks: { inFlight, applied } };
}

/** A header's common fields are there and well-formed (its own fields are its owner's to check). */
export function isPlanJournalHeader(h: unknown): h is PlanJournalHeader {
  const j = h as Partial<PlanJournalHeader> | null;
  return (
    j !== null &&
    typeof j === 'object' &&
    j.version === 1 &&
    Array.isArray(j.plan) &&
    j.plan.every((s) => s !== null && typeof s === 'object' && typeof (s as { kind?: unknown }).kind === 'string') &&
    (j.bootId === null || typeof j.bootId === 'string')
  );
}

export type JournalFound<E> = { file: string; entry: E } | { file: string; error: string };

/** Every journal in `dir` whose name `ours` accepts, parsed; unreadable ones carry their error. */
export function readPlanJournals<E>(dir: string, ours: (name: string) => boolean, parse: (text: string) => E): JournalFound<E>[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter(ours).sort();
  } catch (e) {
    if (isMissing(e)) return [];
    throw e;
  }
  return names.map((name) => {
    const file = path.join(dir, name);
    try {
      return { file, entry: parse(fs.readFileSync(file, 'utf8')) };
    } catch (e) {
      return { file, error: e instanceof Error ? e.message : String(e) };
    }
  });
}

/** Written in another boot than `now`: what it changed did not survive the reboot, and undoing it
 *  could undo a setup of this boot. Unknown boots are taken as this one. */
export function fromEarlierBoot(header: Pick<PlanJournalHeader, 'bootId'>, now: string | null): boolean {
  return header.bootId !== null && now !== null && header.bootId !== now;
}

/** Undoes, in reverse, every step the marks say may have started; returns what was undone and what failed. */
export async function undoCovered(plan: readonly StepSpec[], inFlight: number, opts: UndoOptions): Promise<{ undone: StepRecord[]; failures: StepFailure[] }> {
  const undone: StepRecord[] = [];
  const failures = await undoSteps(plan.slice(0, inFlight + 1), {
    ...opts,
    emit: (p) => {
      opts.emit?.(p);
      if (p.status === 'finished') undone.push({ description: p.description, device: p.device, ms: p.ms ?? 0 });
    },
  });
  return { undone, failures };
}
