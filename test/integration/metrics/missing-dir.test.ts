import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { GpuService } from '../../../src/daemon/gpu-service';
import { startMetricsPublisher } from '../../../src/metrics/metrics-publisher';

// A host without node_exporter has no default textfile directory: that is said at info level (a warning
// at every start would fill `journalctl -p warning` on every such host), while a directory the admin
// chose and that is missing is a mistake worth a warning.
describe('metrics with no textfile directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-metrics-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function levelsLogged(missingIsNormal: boolean): Promise<number[]> {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    // Only what the publisher reads of the service: its events and an empty host.
    const service = Object.assign(new EventEmitter(), { list: () => [], viable: () => true }) as unknown as GpuService;
    const publisher = await startMetricsPublisher({ service, dir: path.join(dir, 'absent'), version: '0', log, missingIsNormal });
    service.emit('gpus-changed');
    await publisher.stop();
    return lines.map((l) => JSON.parse(l) as { event?: string; level: number }).filter((e) => e.event === 'metrics').map((e) => e.level);
  }

  it('the default directory missing: one info line, no warning', async () => {
    assert.deepEqual(await levelsLogged(true), [30]);
  });

  it('a chosen directory missing: one warning', async () => {
    assert.deepEqual(await levelsLogged(false), [40]);
  });
});
