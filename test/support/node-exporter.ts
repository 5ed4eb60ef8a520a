// The real Prometheus node_exporter (Debian's prometheus-node-exporter), started by a test on a
// loopback port with only the textfile collector, reading the directory the test names. The
// package's own service is not used: .ci/run installs the package, the test starts its binary.

import * as fs from 'node:fs';
import * as net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { spawnTracked, stopPid, waitFor } from './processes';

export const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';

export class NodeExporter {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly output: () => string,
  ) {}

  /** Starts node_exporter on 127.0.0.1 with --collector.textfile.directory=`textfileDir`; resolves once it answers. */
  static async start(textfileDir: string): Promise<NodeExporter> {
    if (!fs.existsSync(NODE_EXPORTER)) {
      throw new Error(`${NODE_EXPORTER} is missing: apt-get install --no-install-recommends prometheus-node-exporter (.ci/run installs it)`);
    }
    const port = await freeLoopbackPort();
    const child = spawnTracked(
      NODE_EXPORTER,
      [`--web.listen-address=127.0.0.1:${port}`, '--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${textfileDir}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
    const exporter = new NodeExporter(child, port, () => output);
    try {
      await waitFor(`node_exporter answering on 127.0.0.1:${port}`, async () => {
        if (child.exitCode !== null) throw new Error(`node_exporter exited (${child.exitCode}):\n${output}`);
        return exporter.scrape().then(() => true, () => false);
      });
    } catch (e) {
      await exporter.stop();
      throw e;
    }
    return exporter;
  }

  /** GET /metrics: the exposition text. */
  async scrape(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.port}/metrics`);
    if (!response.ok) throw new Error(`node_exporter answered ${response.status}: ${await response.text()}`);
    return response.text();
  }

  /** What node_exporter logged (it names a textfile it could not read). */
  log(): string {
    return this.output();
  }

  async stop(): Promise<void> {
    if (this.child.pid !== undefined && this.child.exitCode === null) await stopPid(this.child.pid, { expectName: 'prometheus-node' });
  }
}

/** Series of an exposition text: "name{labels}" -> value, comments left out. */
export function parseSeries(text: string): Map<string, string> {
  const series = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    series.set(line.slice(0, space), line.slice(space + 1));
  }
  return series;
}

/** A port nothing listens on now: the kernel's pick for a listener that is closed at once. */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
