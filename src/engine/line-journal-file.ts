// The file format under every journal: JSON lines. The first append writes the header and the first
// mark whole and durable (temp file, fdatasync, rename, fsync of the directory); later marks are
// appended and fdatasync'ed. An append is one small write to a file that is already durable, so a
// crash leaves the earlier lines intact and at worst a torn last line, which readers drop. Only the
// flushes run off the event loop (atomic-file.ts says why).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { flushData, removeFileDurable, writeFileAtomicKeepOpen } from './atomic-file';

export class LineJournalFile {
  private fd: number | undefined;

  constructor(
    readonly file: string,
    private readonly header: object,
  ) {}

  /** Resolves once `mark` (and, the first time, the header) is on disk. */
  async append(mark: object): Promise<void> {
    const line = `${JSON.stringify(mark)}\n`;
    if (this.fd === undefined) {
      this.fd = await writeFileAtomicKeepOpen(this.file, `${JSON.stringify(this.header)}\n${line}`);
      return;
    }
    fs.writeSync(this.fd, line);
    await flushData(this.fd, path.dirname(this.file));
  }

  /** Closes the file and leaves it on disk (for recovery). */
  async close(): Promise<void> {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  async remove(): Promise<void> {
    await this.close();
    await removeFileDurable(this.file);
  }
}

/** The complete (newline-terminated) lines of a journal, each parsed, undefined where not JSON. */
export function readJournalLines(text: string): unknown[] {
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        return undefined;
      }
    });
}
