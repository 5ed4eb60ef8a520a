// systemd's end of sd_notify, for the daemon process: a unix datagram socket that python3 binds
// with SO_PASSCRED, printing each datagram and its sender's PID as a JSON line. The test waits for
// datagrams by content; everything received is kept in arrival order.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as readline from 'node:readline';
import { waitFor } from '../../support/processes';

const RECEIVER = `
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print(json.dumps({'listening': True}), flush=True)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pids = [struct.unpack('iII', d[:12])[0] for (lvl, typ, d) in anc if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS]
    print(json.dumps({'text': data.decode(), 'pid': pids[0] if pids else None}), flush=True)
`;

export interface Datagram {
  text: string;
  pid: number | null;
}

export class NotifyReceiver {
  readonly datagrams: Datagram[] = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {}

  /** Binds `socketPath` and resolves once it listens. */
  static async listen(socketPath: string): Promise<NotifyReceiver> {
    const child = spawn('python3', ['-c', RECEIVER, socketPath]);
    const receiver = new NotifyReceiver(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the python3 notify receiver exited (${code}): ${stderr.trim()}`)));
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        const msg = JSON.parse(line) as { listening?: boolean } & Datagram;
        if (msg.listening) resolve();
        else receiver.datagrams.push({ text: msg.text, pid: msg.pid });
      });
    });
    return receiver;
  }

  /** The lines of every datagram so far ("READY=1", "STATUS=...", ...), in order. */
  lines(): string[] {
    return this.datagrams.flatMap((d) => d.text.split('\n'));
  }

  /** Waits for a datagram one of whose lines matches. */
  waitForLine(what: string, match: (line: string) => boolean, timeoutMs = 10_000): Promise<Datagram> {
    return waitFor(`sd_notify ${what}`, () => this.datagrams.find((d) => d.text.split('\n').some(match)), { timeoutMs, intervalMs: 5 });
  }

  close(): void {
    this.child.removeAllListeners('exit');
    this.child.kill();
  }
}
