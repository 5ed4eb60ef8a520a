// What every gpu-hookctl verb is: a name, its usage, and a run function that returns the exit code.
// A verb lives in commands/<verb>.ts and is listed once in commands/index.ts.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { HostIO } from '../host/host-io';

/** Exit codes of gpu-hookctl, the same for every verb. */
export const EXIT_OK = 0;
/** The verb could not do its job (host unreadable, daemon refused, ...); stderr says why in one line. */
export const EXIT_FAILED = 1;
/** The command line was wrong (unknown verb or flag, bad value); stderr says what, then the usage. */
export const EXIT_USAGE = 2;

export interface CliContext {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** The host below a root, for the verbs that read it (list, cpu-plan, doctor); they only read. */
  openHost(root: string): HostIO;
  /** Resolves with the signal's name at the first SIGINT or SIGTERM, for verbs that run until then
   *  (monitor); only they take the signals over. Absent: never. */
  untilInterrupted?(): Promise<string>;
}

export interface Command {
  name: string;
  /** One line for the verb list. */
  summary: string;
  /** Synopsis and options, printed by --help and after a usage error. */
  usage: string;
  run(args: string[], ctx: CliContext): Promise<number>;
}

/** A mistake on the command line: printed with the verb's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with strict flags, its long messages turned into one short sentence.
 *  Verbs that take operands (an address) pass allowPositionals. */
export function parseFlags<O extends Options>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError(flagProblem(e));
  }
}

function flagProblem(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const flag = /'([^']+)'/.exec(err.message ?? '')?.[1]?.split(' ')[0] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${flag}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(err.message ?? '') ? `option ${flag} takes no value` : `option ${flag} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(flag)}`;
    default:
      return err.message ?? String(e);
  }
}
