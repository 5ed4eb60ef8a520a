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

  it('keeps a claim on a GPU without a record in memory only, and writes a claim into the record once there is one', async () => {
    const ledger = new GpuLedger(temp.root);
    await ledger.claim('0000:01:00.0', { vm: 'win10', manual: false });
    assert.deepEqual(ledger.claimOf('0000:01:00.0'), { vm: 'win10', manual: false });
    assert.deepEqual(ledger.heldBy('win10'), ['0000:01:00.0']);
    assert.equal(fs.existsSync(ledger.dir), false, 'nothing on disk: the host does not bear the claim out yet');
    assert.equal(new GpuLedger(temp.root).claimOf('0000:01:00.0'), undefined, 'a restart knows of no claim');

    await ledger.save({ ...record('0000:01:00.0', 'win10'), manual: true });
    await ledger.claim('0000:01:00.0', { vm: 'linux', manual: true });
    const restarted = new GpuLedger(temp.root);
    assert.deepEqual(restarted.claimOf('0000:01:00.0'), { vm: 'linux', manual: true });
    // The VM's release leaves a GPU detached by hand claimed by hand; ending any claim clears both.
    await restarted.unclaim('0000:01:00.0', 'linux');
    assert.deepEqual(new GpuLedger(temp.root).claimOf('0000:01:00.0'), { vm: '', manual: true });
    await restarted.unclaim('0000:01:00.0');
    assert.equal(new GpuLedger(temp.root).claimOf('0000:01:00.0'), undefined);
    assert.deepEqual(new GpuLedger(temp.root).list().map((r) => r.gpu), ['0000:01:00.0'], 'the host state stays until the attach');
  });

  it('says a claim taken while its record is being written at once, not the record\'s older one', async () => {
    const ledger = new GpuLedger(temp.root);
    await ledger.save(record('0000:01:00.0', ''));
    const writing = ledger.claim('0000:01:00.0', { vm: 'win10', manual: false });
    assert.deepEqual(ledger.claimOf('0000:01:00.0'), { vm: 'win10', manual: false });
    await writing;
    assert.deepEqual(ledger.claimOf('0000:01:00.0'), { vm: 'win10', manual: false });
  });

  it('reconcile drops the records the host does not bear out, and keeps those of a transition left half-way', async () => {
    const ledger = new GpuLedger(temp.root);
    for (const gpu of ['0000:01:00.0', '0000:02:00.0', '0000:03:00.0', '0000:04:00.0']) await ledger.save(record(gpu, 'win10'));
    ledger.setFailure('0000:03:00.0', 'the attach could not be undone');
    const onVfio: Record<string, boolean | undefined> = { '0000:01:00.0': true, '0000:02:00.0': false, '0000:03:00.0': false, '0000:04:00.0': undefined };
    assert.deepEqual(await ledger.reconcile((r) => onVfio[r.gpu]), ['0000:02:00.0']);
    assert.deepEqual(ledger.list().map((r) => r.gpu), ['0000:01:00.0', '0000:03:00.0', '0000:04:00.0']);
  });

  it('refuses an address that could leave the state directory', () => {
    assert.throws(() => new GpuLedger(temp.root).load('../../etc/passwd'), /not a PCI address/);
  });
});
