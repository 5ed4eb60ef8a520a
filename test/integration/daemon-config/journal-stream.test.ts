import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLogger, isJournalStream } from '../../../src/daemon/logger';
import { makeTempRoot } from '../../support/temp-root';

describe('telling whether stdout is the journal (JOURNAL_STREAM)', () => {
  let dir: string;
  let cleanup: () => void;
  let fd: number;
  let streamId: string;

  beforeEach(() => {
    ({ root: dir, cleanup } = makeTempRoot('gpu-hookd-journal-'));
    fd = fs.openSync(path.join(dir, 'stream'), 'w');
    const stat = fs.fstatSync(fd);
    streamId = `${stat.dev}:${stat.ino}`;
  });
  afterEach(() => {
    fs.closeSync(fd);
    cleanup();
  });

  it('is true when JOURNAL_STREAM names the device and inode of the stream', () => {
    assert.equal(isJournalStream({ JOURNAL_STREAM: streamId }, fd), true);
  });

  it('is false when the stream was redirected elsewhere, or the variable is unset or malformed', () => {
    const [dev, ino] = streamId.split(':');
    assert.equal(isJournalStream({ JOURNAL_STREAM: `${dev}:${Number(ino) + 1}` }, fd), false);
    assert.equal(isJournalStream({}, fd), false);
    assert.equal(isJournalStream({ JOURNAL_STREAM: 'journal' }, fd), false);
  });

  it('makes createLogger choose the journal line format when it is stdout', () => {
    const stdout = fs.fstatSync(1);
    const lines: string[] = [];
    const destination = { write: (line: string) => lines.push(line) };
    createLogger({ env: { JOURNAL_STREAM: `${stdout.dev}:${stdout.ino}` }, destination }).warn('under systemd');
    createLogger({ env: {}, destination }).warn('by hand');
    assert.equal(lines[0], '<4>under systemd\n');
    assert.equal((JSON.parse(lines[1]) as { msg: string }).msg, 'by hand');
  });
});
