import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { removeTextfile, replaceTextfile } from '../../../src/metrics/textfile';

describe('the metrics textfile', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-textfile-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is readable by node_exporter\'s user even under the unit\'s UMask=0077, and leaves no temporary file', async () => {
    const file = path.join(dir, 'gpu-hookd.prom');
    const umask = process.umask(0o077);
    try {
      await replaceTextfile(file, 'a 1\n');
      await replaceTextfile(file, 'a 2\n');
    } finally {
      process.umask(umask);
    }
    assert.equal(fs.statSync(file).mode & 0o777, 0o644);
    assert.equal(fs.readFileSync(file, 'utf8'), 'a 2\n');
    assert.deepEqual(fs.readdirSync(dir), ['gpu-hookd.prom']);
  });

  it('fails for a missing directory without creating it, and removing an absent file is no error', async () => {
    const missing = path.join(dir, 'absent');
    await assert.rejects(replaceTextfile(path.join(missing, 'gpu-hookd.prom'), 'a 1\n'), { code: 'ENOENT' });
    assert.equal(fs.existsSync(missing), false);
    await removeTextfile(path.join(dir, 'gpu-hookd.prom'));
  });
});
