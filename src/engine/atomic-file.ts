// Files that must survive a crash whole or not at all: written to a temporary file beside the
// target, flushed, renamed over it, and the directory flushed so the rename itself is durable.
// fdatasync is enough for the temporary file: it flushes the data and the size, which is all a
// reader after a crash needs; the rename is made durable by the directory's fsync.

import * as fs from 'node:fs';
import * as path from 'node:path';

let sequence = 0;

export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const dir = path.dirname(file);
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${sequence++}.tmp`);
  const handle = await fs.promises.open(temp, 'w', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.datasync();
  } catch (e) {
    await handle.close();
    await fs.promises.rm(temp, { force: true });
    throw e;
  }
  await handle.close();
  await fs.promises.rename(temp, file);
  await syncDirectory(dir);
}

/** Removes `file` (absent is fine) and makes the removal durable. */
export async function removeFileDurable(file: string): Promise<void> {
  try {
    await fs.promises.unlink(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await syncDirectory(path.dirname(file));
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
