// The transition events as the logger writes them, from a real GpuService moving the seed's GPU on
// the simulated host: each with its MESSAGE_ID and the fields a log shipper selects on, in the
// pino JSON, as native journal entries (decoded here as journald reads the protocol) and through a
// real unix datagram socket.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { GpuService } from '../../../src/daemon/gpu-service';
import { createLogger, type Logger } from '../../../src/daemon/logger';
import { logTransitions, TRANSITION_MESSAGE_IDS } from '../../../src/daemon/transition-events';
import { injectFault } from '../../../src/sim/faults';
import { simEngine, type SimEngine } from '../engine/sim-engine';

const GPU = '0000:01:00.0';
const CATALOG = path.resolve(__dirname, '../../../../packaging/journal/gpu-hookd.catalog');

/** A native journal entry's fields, read as journald reads them (text "NAME=value" or the binary form). */
function decodeEntry(datagram: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let at = 0;
  while (at < datagram.length) {
    const newline = datagram.indexOf(0x0a, at);
    const line = datagram.subarray(at, newline).toString();
    const eq = line.indexOf('=');
    if (eq >= 0) {
      fields[line.slice(0, eq)] = line.slice(eq + 1);
      at = newline + 1;
    } else {
      const length = Number(datagram.readBigUInt64LE(newline + 1));
      fields[line] = datagram.subarray(newline + 9, newline + 9 + length).toString();
      assert.equal(datagram[newline + 9 + length], 0x0a, 'a binary field ends with a newline');
      at = newline + 10 + length;
    }
  }
  return fields;
}

describe('transition events in the log', () => {
  let sim: SimEngine;
  beforeEach(async () => {
    sim = await simEngine('seed');
  });
  afterEach(() => sim.dispose());

  /** Detach and attach by hand, then a detach that fails, each logged through `log`. */
  async function threeTransitions(log: Logger): Promise<void> {
    const service = new GpuService({ io: sim.host.io, engine: sim.engine, stateDir: sim.stateDir, log });
    await service.start();
    const stop = logTransitions(service, log);
    await service.detachByHand(GPU);
    await service.attachByHand(GPU);
    injectFault(sim.host.root, { path: 'sys/bus/pci/drivers/xhci_hcd/unbind', value: '0000:01:00.2', effect: { kind: 'fail', errno: 'EIO' }, times: 1 });
    await assert.rejects(service.detachByHand(GPU), /EIO/);
    stop();
  }

  it('sends each as a native journal entry with MESSAGE_ID, GPU, VM, OPERATION and DURATION_MS', async () => {
    const sent: { socket: string; fields: Record<string, string> }[] = [];
    const lines: string[] = [];
    const log = createLogger({
      journal: true,
      journalSocket: '/run/test/journal.socket',
      sendDatagram: (socket, datagram) => {
        sent.push({ socket, fields: decodeEntry(datagram) });
        return 0;
      },
      destination: { write: (line: string) => lines.push(line) },
    });
    await threeTransitions(log);

    assert.deepEqual(lines, [], 'nothing on the stream while the socket takes every entry');
    assert.ok(sent.every((s) => s.socket === '/run/test/journal.socket' && s.fields.SYSLOG_IDENTIFIER === 'gpu-hookd'));
    const events = sent.map((s) => s.fields).filter((f) => f.MESSAGE_ID !== undefined);
    assert.deepEqual(
      events.map((f) => [f.MESSAGE_ID, f.OPERATION, f.GPU, f.VM, f.PRIORITY]),
      [
        [TRANSITION_MESSAGE_IDS.started, 'detach', GPU, '', '6'],
        [TRANSITION_MESSAGE_IDS.finished, 'detach', GPU, '', '6'],
        [TRANSITION_MESSAGE_IDS.started, 'attach', GPU, '', '6'],
        [TRANSITION_MESSAGE_IDS.finished, 'attach', GPU, '', '6'],
        [TRANSITION_MESSAGE_IDS.started, 'detach', GPU, '', '6'],
        [TRANSITION_MESSAGE_IDS.failed, 'detach', GPU, '', '3'],
      ],
    );
    for (const f of events.filter((e) => e.MESSAGE_ID !== TRANSITION_MESSAGE_IDS.started)) {
      assert.match(f.DURATION_MS, /^\d+(\.\d)?$/);
      assert.ok(Number(f.DURATION_MS) > 0);
    }
    const failed = events[5];
    assert.match(failed.ERROR, /EIO/);
    // MESSAGE is the line journalctl showed before the fields were journal fields: sentence, then key=value.
    assert.ok(failed.MESSAGE.startsWith(`detach of ${GPU} by hand failed: ${failed.ERROR} MESSAGE_ID=${TRANSITION_MESSAGE_IDS.failed} gpu=${GPU} vm="" operation=detach durationMs=`), failed.MESSAGE);
    assert.match(events[1].MESSAGE, new RegExp(`^detach of ${GPU.replace(/\./g, '\\.')} by hand done in \\d+(\\.\\d)? ms MESSAGE_ID=`));
  });

  it('writes the same fields in the JSON log, and falls back to journal lines when the socket refuses', async () => {
    const json: string[] = [];
    await threeTransitions(createLogger({ journal: false, destination: { write: (line: string) => json.push(line) } }));
    const events = json.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.MESSAGE_ID !== undefined);
    assert.deepEqual(Object.keys(events[1]).filter((k) => !['level', 'time', 'msg'].includes(k)), ['MESSAGE_ID', 'gpu', 'vm', 'operation', 'durationMs']);
    assert.deepEqual(Object.keys(events[5]).filter((k) => !['level', 'time', 'msg'].includes(k)), ['MESSAGE_ID', 'gpu', 'vm', 'operation', 'durationMs', 'error']);

    sim.engine.removeAllListeners();
    const lines: string[] = [];
    const refused = createLogger({ journal: true, journalSocket: '/nowhere', sendDatagram: () => 111, destination: { write: (line: string) => lines.push(line) } });
    refused.info({ MESSAGE_ID: TRANSITION_MESSAGE_IDS.started, gpu: GPU, vm: 'win10', operation: 'detach' }, 'started');
    assert.deepEqual(lines, [`<6>started MESSAGE_ID=${TRANSITION_MESSAGE_IDS.started} gpu=${GPU} vm=win10 operation=detach\n`]);
  });

  it('reaches a real unix datagram socket as one entry, a multi-line value in the binary form', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-journal-'));
    const socket = path.join(dir, 'socket');
    // journald's side: one datagram received on a socket bound at `socket`, written out as it came.
    const receiver = spawn('python3', ['-c', [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      's.bind(sys.argv[1])',
      'print("ready", flush=True)',
      'sys.stdout.buffer.write(s.recv(1 << 16))',
    ].join('\n'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const chunks: Buffer[] = [];
      receiver.stdout.on('data', (d: Buffer) => chunks.push(d));
      await new Promise<void>((resolve) => receiver.stdout.once('data', () => resolve()));
      const log = createLogger({ journal: true, journalSocket: socket, destination: { write: () => assert.fail('the entry went to the stream') } });
      log.error({ MESSAGE_ID: TRANSITION_MESSAGE_IDS.failed, gpu: GPU, vm: 'win 10', operation: 'attach', durationMs: 12.5, error: 'first\nsecond' }, 'attach failed');
      // 'close': the process has exited and its stdout is read to the end.
      const [code] = (await once(receiver, 'close')) as [number];
      assert.equal(code, 0);
      const output = Buffer.concat(chunks);
      assert.equal(output.subarray(0, 6).toString(), 'ready\n');
      assert.deepEqual(decodeEntry(output.subarray(6)), {
        PRIORITY: '3',
        SYSLOG_IDENTIFIER: 'gpu-hookd',
        MESSAGE: `attach failed MESSAGE_ID=${TRANSITION_MESSAGE_IDS.failed} gpu=${GPU} vm="win 10" operation=attach durationMs=12.5 error="first\\nsecond"`,
        MESSAGE_ID: TRANSITION_MESSAGE_IDS.failed,
        GPU,
        VM: 'win 10',
        OPERATION: 'attach',
        DURATION_MS: '12.5',
        ERROR: 'first\nsecond',
      });
    } finally {
      receiver.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has journalctl\'s explanation of each MESSAGE_ID in the catalog the packages install', () => {
    // journalctl builds its catalog database below a root of our own, never this machine's.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-hookd-catalog-'));
    try {
      fs.mkdirSync(path.join(root, 'usr/lib/systemd/catalog'), { recursive: true });
      fs.mkdirSync(path.join(root, 'var/lib/systemd/catalog'), { recursive: true });
      fs.copyFileSync(CATALOG, path.join(root, 'usr/lib/systemd/catalog/gpu-hookd.catalog'));
      execFileSync('journalctl', [`--root=${root}`, '--update-catalog'], { stdio: 'pipe' });
      const listed = execFileSync('journalctl', [`--root=${root}`, '--list-catalog'], { encoding: 'utf8' }).trim().split('\n').sort();
      assert.deepEqual(listed, [
        `${TRANSITION_MESSAGE_IDS.finished} gpu-hookd: @OPERATION@ of GPU @GPU@ done in @DURATION_MS@ ms`,
        `${TRANSITION_MESSAGE_IDS.failed} gpu-hookd: @OPERATION@ of GPU @GPU@ failed: @ERROR@`,
        `${TRANSITION_MESSAGE_IDS.started} gpu-hookd: @OPERATION@ of GPU @GPU@ began`,
      ].sort());
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
