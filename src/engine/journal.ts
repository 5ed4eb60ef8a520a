// The transition journal: before each step, which transition is running and which step may be in
// flight reaches disk atomically, so that after a crash recovery can undo every step that might
// have started. One file per GPU (GPUs move in parallel); removed when the transition completes or
// was rolled back.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isPciAddress } from '../host/pci-address';
import { removeFileDurable, writeFileAtomic } from './atomic-file';
import type { StepSpec } from './step-spec';

export type TransitionKind = 'detach' | 'attach';

export interface JournalEntry {
  version: 1;
  id: string;
  kind: TransitionKind;
  gpu: string;
  /** VM name, or "" for a manual transition. */
  owner: string;
  plan: StepSpec[];
  /** Every step up to and including this index may have started. */
  inFlight: number;
  startedAt: string;
  /** The kernel's boot_id when the transition ran: after a reboot there is nothing left to undo. */
  bootId: string | null;
  /** This detach created the GPU's record, so undoing it removes the record again. */
  createdRecord: boolean;
}

export function journalDir(stateDir: string): string {
  return path.join(stateDir, 'journal');
}

export class Journal {
  readonly file: string;

  constructor(
    stateDir: string,
    private readonly entry: Omit<JournalEntry, 'inFlight'>,
  ) {
    this.file = path.join(journalDir(stateDir), `${entry.gpu}.json`);
  }

  /** Durable before the step at `index` starts. */
  markInFlight(index: number): Promise<void> {
    const entry: JournalEntry = { ...this.entry, inFlight: index };
    return writeFileAtomic(this.file, `${JSON.stringify(entry, null, 1)}\n`);
  }

  remove(): Promise<void> {
    return removeFileDurable(this.file);
  }
}

export type JournalFile = { file: string; entry: JournalEntry } | { file: string; error: string };

/** Every journal left in the state directory, parsed and checked; unreadable ones carry an error. */
export function readJournals(stateDir: string): JournalFile[] {
  const dir = journalDir(stateDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.map((name) => {
    const file = path.join(dir, name);
    try {
      return { file, entry: parseJournal(fs.readFileSync(file, 'utf8')) };
    } catch (e) {
      return { file, error: e instanceof Error ? e.message : String(e) };
    }
  });
}

export function parseJournal(text: string): JournalEntry {
  const j = JSON.parse(text) as Partial<JournalEntry>;
  const ok =
    j !== null &&
    typeof j === 'object' &&
    j.version === 1 &&
    typeof j.id === 'string' &&
    (j.kind === 'detach' || j.kind === 'attach') &&
    typeof j.gpu === 'string' &&
    isPciAddress(j.gpu) &&
    typeof j.owner === 'string' &&
    Array.isArray(j.plan) &&
    j.plan.every((s) => s !== null && typeof s === 'object' && typeof (s as { kind?: unknown }).kind === 'string') &&
    Number.isInteger(j.inFlight) &&
    (j.inFlight as number) >= 0 &&
    (j.inFlight as number) < j.plan.length &&
    typeof j.createdRecord === 'boolean';
  if (!ok) throw new Error('it is not a gpu-hookd journal of this version');
  return j as JournalEntry;
}
