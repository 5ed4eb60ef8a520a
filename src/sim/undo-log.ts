// One change to the simulated kernel (a write, a module operation, a process exiting) is all or
// nothing, whatever ends the process making it: the daemon under test may be killed at any moment,
// and the host it leaves must still be one the kernel could be in. Inside the host's lock, before
// the tree changes, the old content of each path it touches is appended to an undo log, whose first
// line is the emulator's state as it was. The lock's next taker (any process) finds a log left by a
// process that died, puts every path and the state back, and removes the log; a unit that finished
// removes its own. Appends need no fsync: a killed process's writes stay in the page cache.

import * as fs from 'node:fs';
import * as path from 'node:path';

type Before =
  | { p: string; k: 'absent' }
  | { p: string; k: 'file'; d: string }
  | { p: string; k: 'link'; t: string }
  | { p: string; k: 'dir' };

interface Unit {
  root: string;
  logFile: string;
  stateFile: string;
  fd: number | undefined;
}

/** The unit in progress, by resolved host root: set while this process holds that host's lock. */
const units = new Map<string, Unit>();

/** Starts recording for the host at `root` (the caller holds its lock). */
export function beginUnit(root: string, logFile: string, stateFile: string): void {
  units.set(path.resolve(root), { root: path.resolve(root), logFile, stateFile, fd: undefined });
}

/** The unit finished (normally or by an exception, both leave a consistent host): its log goes. */
export function endUnit(root: string): void {
  const unit = units.get(path.resolve(root));
  units.delete(path.resolve(root));
  if (unit?.fd === undefined) return;
  fs.closeSync(unit.fd);
  fs.unlinkSync(unit.logFile);
}

/**
 * Called by the tree before it changes `rel` (and, for a removal, everything below it). Records
 * nothing outside a unit: building a host and tests arranging one are not kernel operations.
 */
export function noteChange(root: string, rel: string): void {
  const unit = units.get(root);
  if (!unit) return;
  if (unit.fd === undefined) {
    unit.fd = fs.openSync(unit.logFile, 'w');
    append(unit.fd, { state: fs.readFileSync(unit.stateFile, 'utf8') });
  }
  for (const before of snapshot(unit.root, rel)) append(unit.fd, before);
}

function append(fd: number, entry: object): void {
  fs.writeSync(fd, `${JSON.stringify(entry)}\n`);
}

/** What is at `rel` now, parents first; for a path that does not exist, its highest missing ancestor. */
function snapshot(root: string, rel: string): Before[] {
  let p = rel.replace(/^\/+|\/+$/g, '');
  const stat = lstat(path.join(root, p));
  if (!stat) {
    // A write creates the missing directories above it: the highest of them is what rollback removes.
    for (let parent = path.posix.dirname(p); parent !== '.' && !lstat(path.join(root, parent)); parent = path.posix.dirname(parent)) p = parent;
    return [{ p, k: 'absent' }];
  }
  const out: Before[] = [];
  const walk = (q: string, st: fs.Stats): void => {
    const abs = path.join(root, q);
    if (st.isSymbolicLink()) out.push({ p: q, k: 'link', t: fs.readlinkSync(abs) });
    else if (st.isFile()) out.push({ p: q, k: 'file', d: fs.readFileSync(abs).toString('base64') });
    else if (st.isDirectory()) {
      out.push({ p: q, k: 'dir' });
      for (const name of fs.readdirSync(abs)) walk(`${q}/${name}`, fs.lstatSync(path.join(abs, name)));
    }
  };
  walk(p, stat);
  return out;
}

function lstat(abs: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/**
 * Undoes the unit a dead process left (the caller holds the lock): every recorded path back, last
 * change first, then the state. Returns the state's text to restore, or undefined when no unit was
 * left or it had changed nothing yet.
 */
export function rollBackLeftUnit(root: string, logFile: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const entries: unknown[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      entries.push(JSON.parse(line));
    } catch {
      // The last line was cut by the kill: its change had not begun (the log is written first).
      break;
    }
  }
  const [head, ...changes] = entries as [{ state: string } | undefined, ...Before[]];
  if (head !== undefined) for (const before of changes.reverse()) restore(root, before);
  fs.unlinkSync(logFile);
  return head?.state;
}

function restore(root: string, before: Before): void {
  const abs = path.join(root, before.p);
  const now = lstat(abs);
  if (before.k === 'dir') {
    if (now?.isDirectory()) return;
    if (now) fs.rmSync(abs, { recursive: true, force: true });
    fs.mkdirSync(abs, { recursive: true });
    return;
  }
  if (now) fs.rmSync(abs, { recursive: true, force: true });
  if (before.k === 'absent') return;
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  if (before.k === 'file') fs.writeFileSync(abs, Buffer.from(before.d, 'base64'));
  else fs.symlinkSync(before.t, abs);
}
