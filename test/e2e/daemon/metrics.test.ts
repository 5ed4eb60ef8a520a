// The daemon's metrics as Prometheus gets them: the real node_exporter (prometheus-node-exporter)
// reads the daemon's textfile directory and is scraped over loopback, after a VM's prepare and
// release and after a failed detach; and a reader racing a stream of transitions never finds the
// file half-written.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { injectFault } from '../../../src/sim/faults';
import { METRICS_FILE } from '../../../src/metrics/textfile';
import { buildTestDomainXml } from '../../support/safe-domain';
import { waitFor } from '../../support/processes';
import { NodeExporter, parseSeries } from '../../support/node-exporter';
import { callError, DaemonUnderTest, useDaemonUnderTest } from './daemon-under-test';

const RTX = '0000:01:00.0';
const FUNCTIONS = ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'];
const vmXml = (name: string): string => buildTestDomainXml({ name, hostdevs: FUNCTIONS.map((address) => ({ address, managed: true })) });
const transitions = (operation: string, result: string): string => `gpu_hookd_transitions_total{gpu="${RTX}",operation="${operation}",result="${result}"}`;
const mode = (m: string): string => `gpu_hookd_gpu_mode{gpu="${RTX}",mode="${m}"}`;
/** The last series the daemon writes: a file holding it was written to its end. */
const LAST_SERIES = `gpu_hookd_last_failure_timestamp_seconds{gpu="${RTX}"}`;
const SAMPLE_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\["\\n])*",?)*\})? -?(\d+(\.\d+)?(e[-+]?\d+)?|\+Inf|NaN)$/;

describe('metrics through the real node_exporter', function () {
  this.timeout(60_000);
  let dut: DaemonUnderTest;
  let exporter: NodeExporter | undefined;

  useDaemonUnderTest((started) => (dut = started));
  before(async () => {
    exporter = await NodeExporter.start(dut.metricsDir);
  });
  after(async () => {
    await exporter?.stop();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && exporter) console.log(`\n--- node_exporter's log ---\n${exporter.log()}\n---`);
  });

  /** Scrapes until `ready` holds for the series (the daemon writes the file just after it answers). */
  async function scrapeUntil(what: string, ready: (s: Map<string, string>) => boolean): Promise<Map<string, string>> {
    let last = new Map<string, string>();
    try {
      return await waitFor(what, async () => {
        last = parseSeries(await (exporter as NodeExporter).scrape());
        return ready(last) && last;
      });
    } catch (e) {
      throw new Error(`${(e as Error).message}; last scrape's gpu_hookd series:\n${[...last].filter(([k]) => k.startsWith('gpu_hookd')).map(([k, v]) => `${k} ${v}`).join('\n')}`);
    }
  }

  it('shows the GPU on its host drivers at start, with the build info and no textfile error', async () => {
    const s = await scrapeUntil('the daemon\'s first file', (x) => x.has(LAST_SERIES));
    assert.equal(s.get('node_textfile_scrape_error'), '0');
    assert.match([...s.keys()].find((k) => k.startsWith('gpu_hookd_build_info')) ?? '', /^gpu_hookd_build_info\{nodejs_version="\d+\.\d+\.\d+",version="\d+\.\d+\.\d+"\}$/);
    assert.equal(s.get(mode('host')), '1');
    assert.equal(s.get(`gpu_hookd_gpu_owner_info{gpu="${RTX}",vm=""}`), '1');
    assert.equal(s.get(`gpu_hookd_gpu_iommu_group_viable{gpu="${RTX}"}`), '1');
    assert.equal(s.get(`gpu_hookd_gpu_vfio_functions{gpu="${RTX}"}`), '0');
    assert.equal(s.get(transitions('detach', 'success')), '0');
    assert.equal(s.get(LAST_SERIES), '0');
    assert.ok(s.has(`node_textfile_mtime_seconds{file="${path.join(dut.metricsDir, METRICS_FILE)}"}`));
  });

  it('after a prepare: on vfio-pci for the VM; after the release: back, each transition counted and timed', async () => {
    await dut.call('Prepare', 'ss', ['win10', vmXml('win10')]);
    let s = await scrapeUntil('the detach counted', (x) => x.get(transitions('detach', 'success')) === '1');
    assert.equal(s.get(mode('vfio')), '1');
    assert.equal(s.get(mode('host')), '0');
    assert.equal(s.get(`gpu_hookd_gpu_owner_info{gpu="${RTX}",vm="win10"}`), '1');
    assert.equal(s.get(`gpu_hookd_gpu_vfio_functions{gpu="${RTX}"}`), '4');
    assert.equal(s.get(`gpu_hookd_transition_duration_seconds_count{gpu="${RTX}",operation="detach"}`), '1');
    assert.equal(s.get(`gpu_hookd_transition_duration_seconds_bucket{gpu="${RTX}",operation="detach",le="+Inf"}`), '1');
    assert.ok(Number(s.get(`gpu_hookd_transition_duration_seconds_sum{gpu="${RTX}",operation="detach"}`)) > 0);

    await dut.call('Release', 'ss', ['win10', vmXml('win10')]);
    // The claim is dropped just after the attach: the file written then holds both.
    const unowned = `gpu_hookd_gpu_owner_info{gpu="${RTX}",vm=""}`;
    s = await scrapeUntil('the attach counted and the claim dropped', (x) => x.get(transitions('attach', 'success')) === '1' && x.get(unowned) === '1');
    assert.equal(s.get(mode('host')), '1');
    assert.equal(s.has(`gpu_hookd_gpu_owner_info{gpu="${RTX}",vm="win10"}`), false);
    assert.equal(s.get(`gpu_hookd_gpu_vfio_functions{gpu="${RTX}"}`), '0');
    assert.equal(s.get(transitions('detach', 'success')), '1');
    assert.equal(s.get(transitions('detach', 'failure')), '0');
    assert.equal(s.get(transitions('attach', 'failure')), '0');
    assert.equal(s.get(`gpu_hookd_transition_duration_seconds_count{gpu="${RTX}",operation="attach"}`), '1');
    assert.equal(s.get(LAST_SERIES), '0');
    assert.equal(s.get('node_textfile_scrape_error'), '0');
  });

  it('counts a failed detach and stamps the time of the failure', async () => {
    const before = Date.now() / 1000;
    injectFault(dut.root, { path: 'sys/bus/pci/drivers/xhci_hcd/unbind', value: '0000:01:00.2', effect: { kind: 'fail', errno: 'EIO' }, times: 1 });
    await callError(dut.call('Detach', 's', [RTX]));
    const s = await scrapeUntil('the failure counted', (x) => x.get(transitions('detach', 'failure')) === '1');
    const failedAt = Number(s.get(LAST_SERIES));
    assert.ok(failedAt >= Math.floor(before) && failedAt <= Date.now() / 1000, `last failure at ${failedAt}, test started the detach at ${before}`);
    assert.equal(s.get(mode('host')), '1', 'the rollback gave the GPU back');
    assert.equal(s.get('node_textfile_scrape_error'), '0');
  });

  it('is never seen half-written while transitions follow one another', async () => {
    const file = path.join(dut.metricsDir, METRICS_FILE);
    let reading = true;
    let reads = 0;
    let scrapes = 0;
    const problems: string[] = [];
    const readLoop = (async () => {
      while (reading) {
        const text = fs.readFileSync(file, 'utf8');
        reads++;
        const bad = text.split('\n').slice(0, -1).find((l) => !l.startsWith('# HELP ') && !l.startsWith('# TYPE ') && !SAMPLE_LINE.test(l));
        if (!text.endsWith('\n') || !text.includes(`${LAST_SERIES} `) || bad !== undefined) problems.push(`read ${reads}: ${JSON.stringify(bad ?? text.slice(-80))}`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const scrapeLoop = (async () => {
      while (reading) {
        const s = parseSeries(await (exporter as NodeExporter).scrape());
        scrapes++;
        if (s.get('node_textfile_scrape_error') !== '0' || !s.has(LAST_SERIES)) problems.push(`scrape ${scrapes}: textfile error ${s.get('node_textfile_scrape_error')}`);
      }
    })();
    const cycles = 8;
    try {
      for (let i = 0; i < cycles; i++) {
        await dut.call('Detach', 's', [RTX]);
        await dut.call('Attach', 's', [RTX]);
      }
      await scrapeUntil('every cycle counted', (x) => x.get(transitions('attach', 'success')) === String(1 + cycles));
    } finally {
      reading = false;
      await Promise.all([readLoop, scrapeLoop]);
    }
    assert.deepEqual(problems, []);
    // The readers really ran beside the writes: more reads than files written.
    assert.ok(reads > 4 * cycles && scrapes > 0, `${reads} reads and ${scrapes} scrapes`);
    assert.deepEqual(fs.readdirSync(dut.metricsDir), [METRICS_FILE], 'no temporary file left beside it');
  });

  it('removes the file when the daemon stops, so that Prometheus sees it gone', async () => {
    await dut.terminate();
    const s = await scrapeUntil('the gpu_hookd series gone', (x) => ![...x.keys()].some((k) => k.startsWith('gpu_hookd_')));
    assert.equal(s.get('node_textfile_scrape_error'), '0');
    assert.deepEqual(fs.readdirSync(dut.metricsDir), []);
  });

  it('starts without the directory, says so once, and writes the file at the first change once it exists', async () => {
    fs.rmdirSync(dut.metricsDir);
    await dut.startDaemon();
    const warning = await dut.waitForLog('the missing directory', (e) => e.event === 'metrics' && e.level === 40);
    assert.equal(warning.msg, `not writing metrics: ${dut.metricsDir} does not exist (install prometheus-node-exporter, or set metrics.textfileDir to its --collector.textfile.directory, or "" for none)`);
    fs.mkdirSync(dut.metricsDir);
    await dut.call('Detach', 's', [RTX]);
    const s = await scrapeUntil('the file written again', (x) => x.get(transitions('detach', 'success')) === '1');
    assert.equal(s.get(mode('vfio')), '1');
    await dut.waitForLog('the write working again', (e) => e.event === 'metrics' && e.level === 30);
    assert.equal(dut.logEvents().filter((e) => e.event === 'metrics' && e.level === 40).length, 1, 'one warning, not one per change');
    await dut.call('Attach', 's', [RTX]);
  });
});
