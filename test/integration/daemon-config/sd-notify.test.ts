import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { createNotifier } from '../../../src/daemon/sd-notify';
import { makeTempRoot } from '../../support/temp-root';

// The receiving end, as systemd's: a unix datagram socket bound with the address's exact length
// (abstract names included), with SO_PASSCRED so each datagram carries its sender's PID. Python
// binds it, so the test does not share any code with the sender it checks.
const RECEIVER = `
import json, socket, struct, sys
address = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\\0' + address[1:] if address.startswith('@') else address)
print(json.dumps({'bound': address}), flush=True)
while True:
    data, ancillary, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', payload[:12])[0]
    print(json.dumps({'datagram': data.decode(), 'pid': pid}), flush=True)
`;

interface Received {
  datagram: string;
  pid: number | null;
}

class NotifySocket {
  private readonly queue: Received[] = [];
  private waiting: ((r: Received) => void) | undefined;
  private readonly child: ChildProcessWithoutNullStreams;
  readonly bound: Promise<void>;

  constructor(readonly address: string) {
    this.child = spawn('python3', ['-c', RECEIVER, address]);
    let stderr = '';
    this.child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    this.bound = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`the python3 receiver exited (${code}): ${stderr}`)));
      readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
        const message = JSON.parse(line) as { bound?: string } & Received;
        if (message.bound) resolve();
        else if (this.waiting) {
          const deliver = this.waiting;
          this.waiting = undefined;
          deliver(message);
        } else this.queue.push(message);
      });
    });
  }

  next(): Promise<Received> {
    const queued = this.queue.shift();
    return queued ? Promise.resolve(queued) : new Promise((resolve) => (this.waiting = resolve));
  }

  async nextDatagram(): Promise<string> {
    return (await this.next()).datagram;
  }

  close(): void {
    this.child.removeAllListeners('exit');
    this.child.kill();
  }
}

describe('sd_notify over a real datagram socket', function () {
  this.timeout(10_000);
  let dir: string;
  let cleanup: () => void;
  let receiver: NotifySocket | undefined;

  beforeEach(() => ({ root: dir, cleanup } = makeTempRoot('gpu-hookd-notify-')));
  afterEach(() => {
    receiver?.close();
    receiver = undefined;
    cleanup();
  });

  async function listen(address: string): Promise<NotifySocket> {
    receiver = new NotifySocket(address);
    await receiver.bound;
    return receiver;
  }

  for (const kind of ['path', 'abstract'] as const) {
    it(`delivers READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 to ${kind === 'path' ? 'a path' : 'an abstract'} socket, from this process's PID`, async () => {
      const address = kind === 'path' ? path.join(dir, 'notify') : `@gpu-hookd-test/${process.pid}/${path.basename(dir)}`;
      const socket = await listen(address);
      const errors: Error[] = [];
      const notifier = createNotifier({ NOTIFY_SOCKET: address }, { onError: (e) => errors.push(e) });
      assert.equal(notifier.enabled, true);

      notifier.ready('idle: 1 GPU on host drivers');
      notifier.status('0000:01:00.0 on vfio-pci for win10');
      notifier.watchdog();
      notifier.stopping();

      const first = await socket.next();
      assert.equal(first.datagram, 'READY=1\nSTATUS=idle: 1 GPU on host drivers');
      assert.equal(first.pid, process.pid);
      assert.equal(await socket.nextDatagram(), 'STATUS=0000:01:00.0 on vfio-pci for win10');
      assert.equal(await socket.nextDatagram(), 'WATCHDOG=1');
      assert.equal(await socket.nextDatagram(), 'STOPPING=1');
      assert.deepEqual(errors, []);
    });
  }

  it('sends READY=1 alone when there is no status, and a status on one line', async () => {
    const socket = await listen(path.join(dir, 'notify'));
    const notifier = createNotifier({ NOTIFY_SOCKET: path.join(dir, 'notify') });
    notifier.ready();
    notifier.status('two\nlines');
    assert.equal(await socket.nextDatagram(), 'READY=1');
    assert.equal(await socket.nextDatagram(), 'STATUS=two lines');
  });

  describe('watchdog', () => {
    it('pings at once and then every WATCHDOG_USEC/2 until stopped', async () => {
      const address = path.join(dir, 'notify');
      const socket = await listen(address);
      const notifier = createNotifier({ NOTIFY_SOCKET: address, WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid) });
      assert.equal(notifier.watchdogIntervalMs, 50);
      const stop = notifier.startWatchdog();
      assert.equal(await socket.nextDatagram(), 'WATCHDOG=1');
      assert.equal(await socket.nextDatagram(), 'WATCHDOG=1');
      assert.equal(await socket.nextDatagram(), 'WATCHDOG=1');
      stop();
      notifier.status('stopped');
      let datagram = await socket.nextDatagram();
      while (datagram === 'WATCHDOG=1') datagram = await socket.nextDatagram();
      assert.equal(datagram, 'STATUS=stopped');
      // Absence can only be seen by waiting: several intervals, then a marker must come next.
      await new Promise((resolve) => setTimeout(resolve, 250));
      notifier.status('marker');
      assert.equal(await socket.nextDatagram(), 'STATUS=marker');
    });

    it('stays off when WATCHDOG_PID names another process', async () => {
      const address = path.join(dir, 'notify');
      const socket = await listen(address);
      const notifier = createNotifier({ NOTIFY_SOCKET: address, WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid + 1) });
      assert.equal(notifier.watchdogIntervalMs, undefined);
      const stop = notifier.startWatchdog();
      notifier.status('marker');
      assert.equal(await socket.nextDatagram(), 'STATUS=marker');
      stop();
    });

    it('stays off without WATCHDOG_USEC or with a nonsense one', () => {
      assert.equal(createNotifier({ NOTIFY_SOCKET: path.join(dir, 'n') }).watchdogIntervalMs, undefined);
      assert.equal(createNotifier({ NOTIFY_SOCKET: path.join(dir, 'n'), WATCHDOG_USEC: 'soon' }).watchdogIntervalMs, undefined);
      assert.equal(createNotifier({ NOTIFY_SOCKET: path.join(dir, 'n'), WATCHDOG_USEC: '30000000' }).watchdogIntervalMs, 15_000);
    });
  });

  it('is silent when NOTIFY_SOCKET is unset', () => {
    const errors: Error[] = [];
    const notifier = createNotifier({ WATCHDOG_USEC: '100000' }, { onError: (e) => errors.push(e) });
    assert.equal(notifier.enabled, false);
    notifier.ready('x');
    notifier.status('x');
    notifier.watchdog();
    notifier.stopping();
    notifier.startWatchdog()();
    assert.deepEqual(errors, []);
  });

  it('tells onError, in one sentence, when nobody listens', () => {
    const address = path.join(dir, 'nobody');
    const errors: Error[] = [];
    createNotifier({ NOTIFY_SOCKET: address }, { onError: (e) => errors.push(e) }).ready();
    assert.deepEqual(errors.map((e) => e.message), [`telling systemd "READY=1" through ${address} failed: ENOENT`]);
  });

  it('refuses a NOTIFY_SOCKET that is no unix socket address', () => {
    assert.throws(() => createNotifier({ NOTIFY_SOCKET: 'vsock:2:1234' }), {
      message: 'NOTIFY_SOCKET="vsock:2:1234" is neither a socket path nor an abstract name ("@..."): gpu-hookd cannot tell systemd it is ready; run it from a unit with Type=notify on the host',
    });
    assert.throws(() => createNotifier({ NOTIFY_SOCKET: `/${'x'.repeat(107)}` }), /longer than a unix socket address can be/);
  });
});
