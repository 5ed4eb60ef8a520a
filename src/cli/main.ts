#!/usr/bin/env node
// gpu-hookctl: the command line of gpu-hookd. This file only dispatches to a verb in commands/ and
// turns what it throws into one line on stderr and an exit code (see command.ts).

import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, type CliContext, type Command } from './command';
import { COMMANDS } from './commands';
import { SysfsHostIO } from '../host/host-io';

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: gpu-hookctl <command> [options]    (gpu-hookctl <command> --help for its options)',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `exit codes: ${EXIT_OK} done, ${EXIT_FAILED} failed (stderr says why), ${EXIT_USAGE} wrong command line`,
  ].join('\n');
}

export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const [verb, ...args] = argv;
  if (verb === '--help' || verb === '-h' || verb === 'help') {
    const command = COMMANDS.find((c) => c.name === args[0]);
    ctx.out((command ? `usage: ${command.usage}` : usage()) + '\n');
    return EXIT_OK;
  }
  if (verb === undefined) return usageFailure(ctx, 'no command given', usage());
  const command = COMMANDS.find((c) => c.name === verb);
  if (!command) return usageFailure(ctx, `unknown command ${JSON.stringify(verb)}`, usage());
  if (args.includes('--help') || args.includes('-h')) {
    ctx.out(`usage: ${command.usage}\n`);
    return EXIT_OK;
  }
  return runCommand(command, args, ctx);
}

async function runCommand(command: Command, args: string[], ctx: CliContext): Promise<number> {
  try {
    return await command.run(args, ctx);
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(ctx, `${command.name}: ${e.message}`, `usage: ${command.usage}`);
    ctx.err(`gpu-hookctl ${command.name}: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_FAILED;
  }
}

function usageFailure(ctx: CliContext, problem: string, text: string): number {
  ctx.err(`gpu-hookctl: ${problem}\n${text}\n`);
  return EXIT_USAGE;
}

if (require.main === module) {
  const ctx: CliContext = {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
    // Reads only: the kernel's files below the root serve a real host, a mounted image and a simulated tree alike.
    openHost: (root) => new SysfsHostIO(root),
    untilInterrupted: () =>
      new Promise((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
      }),
  };
  void runCli(process.argv.slice(2), ctx).then((code) => {
    process.exitCode = code;
  });
}
