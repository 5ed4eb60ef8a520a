// Files that must survive a crash whole or not at all: written to a temporary file beside the
// target, flushed, renamed over it, and the directory flushed so the rename itself is durable.
// fdatasync is enough for the temporary file: it flushes the data and the size, which is all a
// reader after a crash needs; the rename is made durable by the directory's fsync.
//
// Only a flush to a disk waits, so only it runs off the event loop: every asynchronous call is a
// round trip through libuv's thread pool, while the calls around it (open, a write of a few hundred bytes, rename, close) return at once. On a memory
// file system (the lab's state directory on tmpfs, /run) the kernel's flush does nothing at all, so
// it is not called: what a crash leaves there is the same, and a reboot clears it anyway.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const fdatasyncOffLoop = promisify(fs.fdatasync);
const fsyncOffLoop = promisify(fs.fsync);

/** statfs f_type of file systems that live in memory: tmpfs, ramfs. */
const MEMORY_FILE_SYSTEMS = new Set([0x01021994, 0x858458f6]);
const inMemory = new Map<string, boolean>();

/** Whether `dir` lives in memory, where the kernel's fsync and fdatasync do nothing (noop_fsync): no
 *  flush call is made there at all, each would only cost a system call. */
function inMemoryDir(dir: string): boolean {
  let answer = inMemory.get(dir);
  if (answer === undefined) {
    answer = MEMORY_FILE_SYSTEMS.has(fs.statfsSync(dir).type);
    inMemory.set(dir, answer);
  }
  return answer;
}

/** fdatasync of `fd`, an open file in `dir`: resolves once its data is on disk. */
export async function flushData(fd: number, dir: string): Promise<void> {
  if (!inMemoryDir(dir)) await fdatasyncOffLoop(fd);
}

let sequence = 0;

/** Directories this process made or found: each is made once, not at every write. */
const madeDirs = new Set<string>();

function makeDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  madeDirs.add(dir);
}

/** Opens a new file for writing in `dir`, making the directory first when it is not there (again). */
function openNew(dir: string, file: string): number {
  if (!madeDirs.has(dir)) makeDir(dir);
  try {
    return fs.openSync(file, 'w', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    makeDir(dir);
    return fs.openSync(file, 'w', 0o600);
  }
}

export async function writeFileAtomic(file: string, text: string): Promise<void> {
  fs.closeSync(await writeFileAtomicKeepOpen(file, text));
}

/** writeFileAtomic, returning the file open for writing at its end (a journal appends there). */
export async function writeFileAtomicKeepOpen(file: string, text: string): Promise<number> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${sequence++}.tmp`);
  const fd = openNew(dir, temp);
  let renamed = false;
  try {
    fs.writeFileSync(fd, text, 'utf8');
    await flushData(fd, dir);
    fs.renameSync(temp, file);
    renamed = true;
    await syncDirectory(dir);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    if (!renamed) fs.rmSync(temp, { force: true });
    throw e;
  }
}

/** Removes `file` (absent is fine) and makes the removal durable. */
export async function removeFileDurable(file: string): Promise<void> {
  try {
    fs.unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await syncDirectory(path.dirname(file));
}

async function syncDirectory(dir: string): Promise<void> {
  if (inMemoryDir(dir)) return;
  const fd = fs.openSync(dir, 'r');
  try {
    await fsyncOffLoop(fd);
  } finally {
    fs.closeSync(fd);
  }
}
