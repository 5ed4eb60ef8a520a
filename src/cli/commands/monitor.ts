// gpu-hookctl monitor: follows the daemon live, one line per change (a property of a GPU or of the
// daemon, a transition's start, step and end, the daemon joining or leaving the bus) until Ctrl-C.
// It starts with the daemon's state, and shows it again when the daemon comes back. Reads only.

import { EXIT_OK, parseFlags, type CliContext, type Command } from '../command';
import { DaemonClient, explainCallError, resolveBusAddress } from '../daemon-client';
import { monitorEvent, monitorJsonLine, monitorTextLine, stateEvents, type MonitorEvent } from '../monitor-events';

export const monitorCommand: Command = {
  name: 'monitor',
  summary: 'follow what gpu-hookd does, one line per change, until interrupted',
  usage: [
    'gpu-hookctl monitor [--bus ADDRESS] [--json]',
    '  --bus ADDRESS  the D-Bus bus gpu-hookd is on (default: $GPU_HOOKD_BUS, else the system bus)',
    '  --json         print one JSON object per line instead of text',
  ].join('\n'),

  async run(args: string[], ctx: CliContext): Promise<number> {
    const { values } = parseFlags(args, { bus: { type: 'string' }, json: { type: 'boolean', default: false } });
    const client = DaemonClient.connect(resolveBusAddress(values.bus, ctx.env));
    const print = (e: MonitorEvent): void => ctx.out(values.json ? monitorJsonLine(e, new Date()) : monitorTextLine(e, new Date()));
    const printState = async (): Promise<void> => {
      const name = await client.nameState();
      if (!name.owned) return print({ event: 'daemon-absent' });
      stateEvents(await client.status()).forEach(print);
    };
    try {
      // Following first, then the state: a change in between shows after it, never falls through.
      const stop = await client.followDaemon((signal) => {
        const e = monitorEvent(signal);
        if (!e) return;
        print(e);
        if (e.event === 'daemon-started') void printState().catch((err: unknown) => ctx.err(`gpu-hookctl monitor: ${explainCallError(err)}\n`));
      });
      await printState();
      await Promise.race([ctx.untilInterrupted?.() ?? new Promise<never>(() => undefined), client.connectionLost()]);
      await stop();
      return EXIT_OK;
    } catch (e) {
      throw new Error(explainCallError(e));
    } finally {
      client.close();
    }
  },
};
