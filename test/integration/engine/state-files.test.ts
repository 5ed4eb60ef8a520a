// Journals and GPU records on both kinds of file system a state directory can live on: on tmpfs no
// flush is called (the kernel's would do nothing), on a disk they wait in the thread pool
// (atomic-file.ts). Either way the files read back whole and no temporary file is left.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeFileDurable, writeFileAtomic } from '../../../src/engine/atomic-file';
import { LineJournalFile, readJournalLines } from '../../../src/engine/line-journal-file';

const TMPFS = 0x01021994;

for (const { kind, parent, inMemory } of [
  { kind: 'tmpfs', parent: '/dev/shm', inMemory: true },
  { kind: 'a disk', parent: '/var/tmp', inMemory: false },
]) {
  describe(`state files on ${kind} (${parent})`, () => {
    let dir: string;
    beforeEach(() => {
      assert.equal(fs.statfsSync(parent).type === TMPFS, inMemory, `${parent} is not on ${kind} on this machine`);
      dir = fs.mkdtempSync(path.join(parent, 'gpu-hookd-state-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('replaces a file whole, creating its directory, and removes it', async () => {
      const file = path.join(dir, 'gpus', 'record.json');
      await writeFileAtomic(file, 'first\n');
      await writeFileAtomic(file, 'second\n');
      assert.equal(fs.readFileSync(file, 'utf8'), 'second\n');
      assert.deepEqual(fs.readdirSync(path.dirname(file)), ['record.json']);
      assert.equal((fs.statSync(file).mode & 0o777).toString(8), '600');
      await removeFileDurable(file);
      await removeFileDurable(file);
      assert.deepEqual(fs.readdirSync(path.dirname(file)), []);
    });

    it('appends journal marks after the header and leaves the file for recovery when closed', async () => {
      const file = path.join(dir, 'journal', '0000:01:00.0.json');
      const journal = new LineJournalFile(file, { id: 'abc' });
      await journal.append({ inFlight: 0 });
      await journal.append({ inFlight: 3 });
      await journal.close();
      assert.deepEqual(readJournalLines(fs.readFileSync(file, 'utf8')), [{ id: 'abc' }, { inFlight: 0 }, { inFlight: 3 }]);
      await journal.remove();
      assert.equal(fs.existsSync(file), false);
    });

    it('makes its directory again when it was removed after a first write', async () => {
      const file = path.join(dir, 'gpus', 'record.json');
      await writeFileAtomic(file, 'first\n');
      fs.rmSync(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, 'second\n');
      assert.equal(fs.readFileSync(file, 'utf8'), 'second\n');
    });

    it('fails, leaving no temporary file, when the target cannot be written', async () => {
      fs.mkdirSync(path.join(dir, 'taken.json'));
      fs.writeFileSync(path.join(dir, 'taken.json', 'inside'), '');
      await assert.rejects(writeFileAtomic(path.join(dir, 'taken.json'), 'x'), /EISDIR|ENOTEMPTY|EEXIST/);
      assert.deepEqual(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
    });
  });
}
