import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConfigError, ResolvedConfig } from '../../../src/daemon/config';
import { watchConfig } from '../../../src/daemon/config-watcher';
import { makeTempRoot } from '../../support/temp-root';

type Reload = { good: ResolvedConfig } | { bad: ConfigError };

/** Collects what the watcher reports, in order, and hands it out one at a time. */
class Reports {
  private readonly queue: Reload[] = [];
  private waiting: ((r: Reload) => void) | undefined;

  readonly onGood = (config: ResolvedConfig): void => this.push({ good: config });
  readonly onBad = (error: ConfigError): void => this.push({ bad: error });

  private push(report: Reload): void {
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve(report);
    } else {
      this.queue.push(report);
    }
  }

  next(): Promise<Reload> {
    const queued = this.queue.shift();
    return queued ? Promise.resolve(queued) : new Promise((resolve) => (this.waiting = resolve));
  }

  async nextGood(): Promise<ResolvedConfig> {
    const report = await this.next();
    if ('bad' in report) assert.fail(`expected a good config, got: ${report.bad.message}`);
    return report.good;
  }

  async nextBad(): Promise<ConfigError> {
    const report = await this.next();
    if ('good' in report) assert.fail(`expected a bad config, got a good one: ${JSON.stringify(report.good.timeouts)}`);
    return report.bad;
  }

  get pending(): number {
    return this.queue.length;
  }
}

describe('config live reload (real file edits)', function () {
  this.timeout(10_000);
  let dir: string;
  let cleanup: () => void;
  let file: string;
  let reports: Reports;
  let close: (() => Promise<void>) | undefined;

  const write = (target: string, value: unknown): void => fs.writeFileSync(target, JSON.stringify(value, null, 2));

  beforeEach(async () => {
    ({ root: dir, cleanup } = makeTempRoot('gpu-hookd-watch-'));
    file = path.join(dir, 'config.json');
    write(file, { timeouts: { unbindMs: 1000 } });
    reports = new Reports();
    close = await watchConfig(file, reports.onGood, reports.onBad, { settleMs: 50, args: { root: dir } });
  });

  afterEach(async () => {
    await close?.();
    close = undefined;
    cleanup();
  });

  it('replaces the config when an edit validates, keeping the command line overrides', async () => {
    write(file, { timeouts: { unbindMs: 2000 } });
    const config = await reports.nextGood();
    assert.equal(config.timeouts.unbindMs, 2000);
    assert.equal(config.host.root, dir);
  });

  it('reports exactly which key is wrong and why, and takes the next good edit', async () => {
    write(file, { timeouts: { unbindMs: -5 } });
    const error = await reports.nextBad();
    assert.equal(error.message, `${file}: timeouts.unbindMs must be a positive integer, got -5`);
    assert.equal(error.key, 'timeouts.unbindMs');
    write(file, { timeouts: { unbindMs: 3000 } });
    assert.equal((await reports.nextGood()).timeouts.unbindMs, 3000);
  });

  it('reports a half-written file as invalid JSON, not as a crash', async () => {
    fs.writeFileSync(file, '{ "timeouts": { "unbindMs": 2000 ');
    assert.match((await reports.nextBad()).message, new RegExp(`^${file}: not valid JSON .*; fix the syntax$`));
  });

  it('sees an editor that writes a new file and renames it over the old one', async () => {
    const temp = path.join(dir, '.config.json.swp');
    write(temp, { timeouts: { probeMs: 777 } });
    fs.renameSync(temp, file);
    assert.equal((await reports.nextGood()).timeouts.probeMs, 777);
    write(temp, { timeouts: { probeMs: 888 } });
    fs.renameSync(temp, file);
    assert.equal((await reports.nextGood()).timeouts.probeMs, 888);
  });

  it('reports the file\'s removal and takes it again when it is created anew', async () => {
    fs.unlinkSync(file);
    assert.equal(
      (await reports.nextBad()).message,
      `${file} was removed: the last good config stays in force until the file is back`,
    );
    write(file, { timeouts: { devVfioMs: 4321 } });
    assert.equal((await reports.nextGood()).timeouts.devVfioMs, 4321);
  });

  it('takes a file that did not exist when watching began', async () => {
    await close?.();
    fs.unlinkSync(file);
    close = await watchConfig(file, reports.onGood, reports.onBad, { settleMs: 50 });
    write(file, { log: { level: 'debug' } });
    assert.equal((await reports.nextGood()).log.level, 'debug');
  });

  it('ignores other files in the directory and a rewrite with the same bytes', async () => {
    write(path.join(dir, 'other.json'), { timeouts: 'not ours' });
    write(file, { timeouts: { unbindMs: 1000 } });
    // Let both settle apart from the next edit, so a report for them would come first.
    await new Promise((resolve) => setTimeout(resolve, 300));
    write(file, { timeouts: { unbindMs: 1500 } });
    assert.equal((await reports.nextGood()).timeouts.unbindMs, 1500);
  });

  it('reports nothing once closed', async () => {
    await close?.();
    close = undefined;
    write(file, { timeouts: { unbindMs: 9000 } });
    // Absence can only be seen by waiting: many settle periods, far more than a report takes.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(reports.pending, 0);
  });
});
