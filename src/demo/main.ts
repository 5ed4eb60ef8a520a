#!/usr/bin/env node
// `npm run demo`: gpu-hookd working on the seed's desktop with no GPU and no root. A simulated host
// (the RTX 2060 on nouveau, snd_hda_intel, xhci_hcd, nvidia-gpu, drawing the desktop) in a temporary
// directory, a private bus with systemd and logind stand-ins, the real daemon as a child process;
// then a VM's life as libvirt's hook drives it (Prepare, Release) and a toggle by hand (Detach,
// Attach), each step printed with its time.
// Everything it started is ended by PID and the directory removed, also on Ctrl-C or a failure.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DaemonClient, explainCallError, type GpuStatus } from '../cli/daemon-client';
import { formatMs } from '../cli/duration';
import { driversText } from '../cli/status-table';
import { createSimHost, type SimHost } from '../sim/sim-host';
import { loadScenario } from '../sim/scenarios';
import { snapshotHost, type HostSnapshot } from '../sim/snapshot';
import { startDemoBus, type DemoBus } from './demo-bus';
import { startDemoDaemon, type DemoDaemon } from './demo-daemon';
import { startDemoDesktop, type SimulatedDesktop } from './demo-desktop';
import { DEMO_DOMAIN, demoDomainXml } from './demo-domain';
import { METRICS_FILE } from '../metrics/textfile';

const out = (line = ''): void => {
  process.stdout.write(line + '\n');
};

interface Running {
  dir: string;
  host?: SimHost;
  bus?: DemoBus;
  desktop?: Promise<SimulatedDesktop>;
  daemon?: DemoDaemon;
  client?: DaemonClient;
  /** Set when clean-up begins: nothing new is started after it (Ctrl-C can come at any await). */
  cleaning?: Promise<void>;
}

function assertNotCleaning(run: Running): void {
  if (run.cleaning) throw new Error('interrupted');
}

async function main(): Promise<number> {
  const run: Running = { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-demo-')) };
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
    out('\ninterrupted: cleaning up');
    void cleanUp(run).then(() => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  try {
    await play(run);
    return 0;
  } catch (e) {
    if (interrupted) return 130;
    process.stderr.write(`\ndemo failed: ${explainCallError(e)}\n`);
    if (run.daemon) process.stderr.write(`\ngpu-hookd's log:\n${run.daemon.log().trim()}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    await cleanUp(run);
  }
}

async function play(run: Running): Promise<void> {
  const scenario = loadScenario('seed');
  run.host = await createSimHost(scenario, { dir: path.join(run.dir, 'host') });
  const before = snapshotHost(run.host.io);
  out(`gpu-hookd demo on a simulated host: ${scenario.description}`);
  out(`  files: ${run.dir}`);

  assertNotCleaning(run);
  run.bus = startDemoBus(run.dir);
  const busAddress = await run.bus.address;
  assertNotCleaning(run);
  run.desktop = startDemoDesktop(busAddress, scenario, run.host.root);
  await run.desktop;
  const stateDir = path.join(run.dir, 'state');
  const metricsDir = path.join(run.dir, 'metrics');
  fs.mkdirSync(metricsDir);
  const configFile = path.join(run.dir, 'config.json');
  // Without root, the caller may change GPUs only as a member of access.group: name our own group.
  fs.writeFileSync(configFile, JSON.stringify({ access: { group: primaryGroup() } }, null, 2) + '\n');
  const started = performance.now();
  assertNotCleaning(run);
  run.daemon = startDemoDaemon({ root: run.host.root, busAddress, stateDir, metricsDir, configFile, logFile: path.join(run.dir, 'gpu-hookd.log') });
  await run.daemon.ready();
  out(`  gpu-hookd: pid ${run.daemon.pid}, ready on a private bus in ${formatMs(performance.now() - started)}`);

  assertNotCleaning(run);
  const client = (run.client = DaemonClient.connect(busAddress));
  const first = (await client.status()).gpus[0];
  if (!first) throw new Error('the simulated seed host shows no GPU to the daemon: run npm run build and try again');
  out(`  GPU ${first.address}: ${first.name}, ${first.functions.length} functions in IOMMU group ${first.iommuGroup}`);
  await showState(client, first.path);

  out(`\n1. A VM's life: virsh start ${DEMO_DOMAIN} (its XML lists the GPU's ${first.functions.length} functions as <hostdev>s), then shutdown`);
  const xml = demoDomainXml(first);
  await phase(client, first.path, `libvirt hook "prepare begin" -> Prepare("${DEMO_DOMAIN}")`, 'Prepare', 'ss', [DEMO_DOMAIN, xml]);
  await refused(client, 'meanwhile, by hand: Attach', 'Attach', 's', [first.address]);
  await phase(client, first.path, `libvirt hook "release end" -> Release("${DEMO_DOMAIN}")`, 'Release', 'ss', [DEMO_DOMAIN, xml]);

  out('\n2. By hand, no VM: gpu-hookctl detach, then attach');
  await phase(client, first.path, `Detach("${first.address}")`, 'Detach', 's', [first.address]);
  await phase(client, first.path, `Attach("${first.address}")`, 'Attach', 's', [first.address]);

  out(`\nHost afterwards: ${compareHost(before, snapshotHost(run.host.io))}`);

  // The daemon rewrites the file after each change; the call's answer may come before the last write.
  const metricsFile = path.join(metricsDir, METRICS_FILE);
  const metrics = await waitForMetrics(metricsFile, 'gpu_hookd_transitions_total{gpu="' + first.address + '",operation="attach",result="success"} 2');
  out(`\n3. What Prometheus' node_exporter reads (textfile collector): ${metricsFile}`);
  out(metrics.trimEnd());
}

/** The metrics file once it holds `expected`; fails with what it holds after a few seconds. */
async function waitForMetrics(file: string, expected: string): Promise<string> {
  let text = '';
  for (let tries = 0; tries < 100; tries++) {
    text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (text.includes(expected)) return text;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the daemon's metrics file ${file} does not show ${expected}:\n${text}`);
}

/** What a person should know about the host after the show; throws when it is not as it was. */
function compareHost(before: HostSnapshot, after: HostSnapshot): string {
  const changed = (Object.keys(before) as (keyof HostSnapshot)[]).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  const kept = 'drivers, overrides, /dev/vfio, consoles, framebuffers and modules as at the start';
  if (changed.length === 0) return kept;
  // As on a real kernel: the firmware framebuffer does not come back once the boot GPU has moved
  // (nouveau's own framebuffer carries the console instead).
  if (changed.length === 1 && changed[0] === 'platformFramebuffers') return `${kept}; the firmware's efi-framebuffer is gone for good, as on a real kernel`;
  throw new Error(`the simulated host did not return to its starting state: ${changed.join(', ')} differ`);
}

/** One Manager call with its steps printed as the daemon reports them, then the GPU's state. */
async function phase(client: DaemonClient, gpuPath: string, title: string, member: string, signature: string, body: string[]): Promise<void> {
  out(`   ${title}`);
  const stopSteps = await client.followSteps((s) => {
    if (s.gpu === gpuPath) out(`     ${formatMs(s.ms).padStart(8)}  ${s.description}`);
  });
  const started = performance.now();
  // A failed call ends the demo, and with it the connection and its match rule.
  await client.call(member, signature, body);
  const totalMs = performance.now() - started;
  await stopSteps();
  out(`     ${formatMs(totalMs).padStart(8)}  in all`);
  await showState(client, gpuPath);
}

/** A call the daemon must refuse; prints its one-line answer. */
async function refused(client: DaemonClient, title: string, member: string, signature: string, body: string[]): Promise<void> {
  try {
    await client.call(member, signature, body);
  } catch (e) {
    out(`   ${title} -> refused, ${(e as { type?: string }).type ?? 'error'}: ${explainCallError(e)}`);
    return;
  }
  throw new Error(`${member} succeeded while the VM held the GPU; the daemon should have refused it`);
}

async function showState(client: DaemonClient, gpuPath: string): Promise<void> {
  const status = await client.status();
  const gpu = status.gpus.find((g) => g.path === gpuPath) as GpuStatus;
  out(`   => Mode ${gpu.mode}, Owner ${gpu.owner ? `"${gpu.owner}"` : '""'}, Drivers ${driversText(gpu)}`);
  out(`      status: ${status.status}`);
}

function primaryGroup(): string {
  return execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
}

/** Idempotent: Ctrl-C may arrive while the normal clean-up runs. */
function cleanUp(run: Running): Promise<void> {
  run.cleaning ??= endAll(run);
  return run.cleaning;
}

async function endAll(run: Running): Promise<void> {
  run.client?.close();
  const ended = await run.daemon?.stop();
  await run.desktop?.then((d) => d.stop()).catch(() => undefined);
  await run.bus?.stop();
  await run.host?.dispose();
  fs.rmSync(run.dir, { recursive: true, force: true });
  if (run.daemon) out(`\nCleaned up: gpu-hookd (pid ${run.daemon.pid}) ${ended}, the bus stopped, ${run.dir} removed.`);
}

if (require.main === module) {
  void main().then((code) => process.exit(code));
}
