// Loaded into the daemon under test (NODE_OPTIONS=--require): counts the daemon's writes to its state
// directory (a file renamed into place, a file removed, a line appended to an open journal) and can
// stop the process just before one of them, so that a test SIGKILLs it exactly between two writes.
// The daemon's own code runs unchanged; only these fs calls are watched.
//
// GPU_HOOKD_TEST_STATE_DIR: the daemon's state directory. GPU_HOOKD_TEST_GATE: a directory of the
// test's. While <gate>/armed holds N, every state write is appended to <gate>/writes, and the Nth
// since arming writes <gate>/blocked and never returns (N = 0: count only).

// The module object itself (not an import namespace): the daemon's modules read their fs calls from it.
import fs from 'node:fs';
import * as path from 'node:path';

const stateDir = process.env.GPU_HOOKD_TEST_STATE_DIR;
const gateDir = process.env.GPU_HOOKD_TEST_GATE;

export const ARMED = 'armed';
export const WRITES = 'writes';
export const BLOCKED = 'blocked';

if (stateDir && gateDir) install(path.resolve(stateDir), gateDir);

function install(state: string, gate: string): void {
  const inState = (p: fs.PathLike): boolean => path.resolve(String(p)).startsWith(`${state}${path.sep}`);
  const journalFds = new Set<number>();
  let armedAt: string | undefined;
  let count = 0;

  const pass = (what: string): void => {
    let armed: string;
    try {
      armed = fs.readFileSync(path.join(gate, ARMED), 'utf8');
    } catch {
      armedAt = undefined;
      return;
    }
    // A new arming counts from zero again.
    if (armed !== armedAt) {
      armedAt = armed;
      count = 0;
    }
    count++;
    fs.appendFileSync(path.join(gate, WRITES), `${count} ${what}\n`);
    if (count !== Number(armed)) return;
    fs.writeFileSync(path.join(gate, BLOCKED), what);
    // Stops this thread for good: the test kills the process here.
    for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  };

  const { renameSync, unlinkSync, openSync, writeSync, closeSync } = fs;
  const name = (p: fs.PathLike): string => path.relative(state, path.resolve(String(p)));
  Object.assign(fs, {
    renameSync(from: fs.PathLike, to: fs.PathLike) {
      if (inState(to)) pass(`rename ${name(to)}`);
      return renameSync(from, to);
    },
    unlinkSync(p: fs.PathLike) {
      if (inState(p)) pass(`remove ${name(p)}`);
      return unlinkSync(p);
    },
    openSync(p: fs.PathLike, ...rest: unknown[]) {
      const fd = (openSync as (...a: unknown[]) => number)(p, ...rest);
      if (inState(p)) journalFds.add(fd);
      else journalFds.delete(fd);
      return fd;
    },
    writeSync(fd: number, ...rest: unknown[]) {
      if (journalFds.has(fd)) pass('append to a journal');
      return (writeSync as (...a: unknown[]) => number)(fd, ...rest);
    },
    closeSync(fd: number) {
      journalFds.delete(fd);
      return closeSync(fd);
    },
  });
}
