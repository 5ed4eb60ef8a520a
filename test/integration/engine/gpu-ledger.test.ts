import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GpuLedger, type GpuRecord } from '../../../src/engine/gpu-ledger';
import { makeTempRoot } from '../../support/temp-root';

const record = (gpu: string, owner: string): GpuRecord => ({
  version: 1,
  gpu,
  owner,
  manual: false,
  functions: [{ address: gpu, driver: 'nouveau', driverModule: 'nouveau', driverOverride: null }],
  detachedAt: '2025-01-01T00:00:00.000Z',
  bootId: null,
});

describe('GpuLedger', () => {
  let temp: ReturnType<typeof makeTempRoot>;
  beforeEach(() => (temp = makeTempRoot()));
  afterEach(() => temp.cleanup());

  it('saves, loads, lists and removes records, one file per GPU', async () => {
    const store = new GpuLedger(temp.root);
    assert.equal(store.load('0000:01:00.0'), undefined);
    await store.save(record('0000:01:00.0', 'win10'));
    await store.save(record('0000:02:00.0', ''));
    assert.deepEqual(store.load('01:00.0'), record('0000:01:00.0', 'win10'));
    assert.deepEqual(store.list().map((r) => [r.gpu, r.owner]), [['0000:01:00.0', 'win10'], ['0000:02:00.0', '']]);
    await store.remove('0000:01:00.0');
    await store.remove('0000:01:00.0');
    assert.deepEqual(store.list().map((r) => r.gpu), ['0000:02:00.0']);
  });

  it('replaces a record whole and leaves no temporary file behind', async () => {
    const store = new GpuLedger(temp.root);
    await store.save(record('0000:01:00.0', 'win10'));
    await store.save(record('0000:01:00.0', 'linux'));
    assert.equal(store.load('0000:01:00.0')?.owner, 'linux');
    assert.deepEqual(fs.readdirSync(store.dir), ['0000:01:00.0.json']);
  });

  it('reads a record again once another file took its place or it was written to, and never returns a removed one', async () => {
    const store = new GpuLedger(temp.root);
    const other = new GpuLedger(temp.root);
    await store.save(record('0000:01:00.0', 'win10'));
    assert.equal(store.load('0000:01:00.0')?.owner, 'win10');
    // Another writer renames a new file over it (as every gpu-hookd does).
    await other.save(record('0000:01:00.0', 'linux'));
    assert.equal(store.load('0000:01:00.0')?.owner, 'linux');
    // An edit in place that changes the size.
    const file = store.fileOf('0000:01:00.0');
    fs.writeFileSync(file, `${JSON.stringify(record('0000:01:00.0', 'an editor'))}\n`);
    assert.equal(store.load('0000:01:00.0')?.owner, 'an editor');
    fs.rmSync(file);
    assert.equal(store.load('0000:01:00.0'), undefined);
    // What load returns is shared with the next load, so it is read-only: a caller's edit throws,
    // and neither it nor an edit of the object handed to save reaches the next load.
    const saved = record('0000:01:00.0', 'win10');
    await store.save(saved);
    saved.owner = 'changed after the save';
    const loaded = store.load('0000:01:00.0');
    assert.throws(() => {
      if (loaded) loaded.owner = 'changed by the caller';
    }, TypeError);
    assert.throws(() => loaded?.functions.push({ address: '0000:01:00.2', driver: null, driverModule: null, driverOverride: null }), TypeError);
    assert.equal(store.load('0000:01:00.0')?.owner, 'win10');
    assert.equal(store.load('0000:01:00.0'), loaded);
  });

  it('names the file when a record is damaged', () => {
    const store = new GpuLedger(temp.root);
    fs.mkdirSync(store.dir, { recursive: true });
    fs.writeFileSync(path.join(store.dir, '0000:01:00.0.json'), '{"version":1,"gpu":"0000:01:00.0"');
    assert.throws(() => store.load('0000:01:00.0'), /0000:01:00\.0\.json is not valid JSON/);
  });

  it('refuses an address that could leave the state directory', () => {
    assert.throws(() => new GpuLedger(temp.root).load('../../etc/passwd'), /not a PCI address/);
  });
});
