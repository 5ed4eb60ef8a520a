// gpu-hookctl list: the host's GPUs with their IOMMU groups, drivers, names and viability. Read-only
// and without the daemon, so it works before gpu-hookd is installed (it replaces the shell loop over
// /sys/kernel/iommu_groups that passthrough guides have users paste).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT_OK, parseFlags, UsageError, type CliContext, type Command } from '../command';
import { buildListReport, type ListReport } from '../list-report';
import { renderListTable } from '../list-table';

export const listCommand: Command = {
  name: 'list',
  summary: 'show GPUs, their IOMMU groups, drivers and whether each can be given to a VM',
  usage: [
    'gpu-hookctl list [--root DIR] [--json]',
    '  --root DIR  read the host below DIR instead of / (a simulated host, a mounted image)',
    '  --json      print one JSON object for scripts instead of the table',
  ].join('\n'),

  async run(args: string[], ctx: CliContext): Promise<number> {
    const { values } = parseFlags(args, {
      root: { type: 'string', default: '/' },
      json: { type: 'boolean', default: false },
    });
    const root = path.resolve(values.root);
    if (!isDirectory(root)) throw new UsageError(`--root ${root} is not a directory`);
    let report: ListReport;
    try {
      report = buildListReport(ctx.openHost(root));
    } catch (e) {
      const cause = e instanceof Error ? e.message : String(e);
      throw new Error(`reading the host below ${root} failed (${cause}): point --root at a host tree and run as a user who may read it`);
    }
    ctx.out(values.json ? JSON.stringify(report, null, 2) + '\n' : renderListTable(report));
    return EXIT_OK;
  },
};

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
