// gpu-hookctl status: what the running daemon says about each GPU (mode, owner, drivers, last
// error) and its one-line status, read over D-Bus. Anyone may read it; no root needed.

import { EXIT_OK, parseFlags, type CliContext, type Command } from '../command';
import { DaemonClient, explainCallError, resolveBusAddress } from '../daemon-client';
import { renderStatusTable } from '../status-table';

export const statusCommand: Command = {
  name: 'status',
  summary: 'show what gpu-hookd says about each GPU: mode, owner, drivers, last error',
  usage: [
    'gpu-hookctl status [--bus ADDRESS] [--json]',
    '  --bus ADDRESS  the D-Bus bus gpu-hookd is on (default: $GPU_HOOKD_BUS, else the system bus)',
    '  --json         print one JSON object for scripts instead of the table',
  ].join('\n'),

  async run(args: string[], ctx: CliContext): Promise<number> {
    const { values } = parseFlags(args, { bus: { type: 'string' }, json: { type: 'boolean', default: false } });
    const client = DaemonClient.connect(resolveBusAddress(values.bus, ctx.env));
    try {
      const status = await client.status();
      ctx.out(values.json ? JSON.stringify(status, null, 2) + '\n' : renderStatusTable(status));
      return EXIT_OK;
    } catch (e) {
      throw new Error(explainCallError(e));
    } finally {
      client.close();
    }
  },
};
