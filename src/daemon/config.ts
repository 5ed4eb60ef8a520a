// Loading the config: the file (convict validates it against config-schema.ts), then the
// environment, then the command line; and resolving one VM's settings from its <metadata>, its
// `vms.<name>` section and the defaults. Every problem becomes one sentence naming where the value
// came from, the key and why it is wrong: "/etc/gpu-hookd/config.json: timeouts.unbindMs must be
// a positive integer, got -5".

import convict, { type Schema } from 'convict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CONFIG_SCHEMA,
  DEFAULT_CONFIG_PATH,
  OVERRIDES,
  VM_SETTINGS_SCHEMA,
  convictSchema,
  isSetting,
  type DaemonConfig,
  type OverridableKey,
  type Setting,
  type VmSettings,
} from './config-schema';
import { domainNameProblem, showDomainName } from '../libvirt/domain-name';

export interface ConfigProblem {
  /** Where the value came from: the file's path, an environment variable, a flag or a domain's metadata. */
  source: string;
  /** Dotted key ("timeouts.unbindMs", "vms.win10.pin"); "" when the problem is the whole source. */
  key: string;
  /** The complete sentence. */
  sentence: string;
}

/**
 * A config that cannot be used. The message is the first problem's sentence (and how many more).
 * `kind` makes the D-Bus layer answer InvalidArgument (a bad reload, a domain's bad metadata).
 */
export class ConfigError extends Error {
  readonly kind = 'InvalidArgument';
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    const [first, ...rest] = problems;
    const more = rest.length ? `; ${rest.length} more: ${rest.map((p) => p.key || p.source).join(', ')}` : '';
    super(`${first.sentence}${more}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }

  /** The dotted key of the first problem ("" when the problem is the whole source). */
  get key(): string {
    return this.problems[0].key;
  }
}

export interface DaemonArgs {
  config?: string;
  root?: string;
  bus?: string;
  stateDir?: string;
  metricsDir?: string;
  help?: boolean;
}

export interface ResolvedConfig extends DaemonConfig {
  /** The config file this came from, and whether it existed (when not, every setting is a default). */
  file: { path: string; found: boolean };
}

export interface LoadOptions {
  /** The config file; `args.config` wins over it; default /etc/gpu-hookd/config.json. */
  path?: string;
  /** Read for the OVERRIDES variables (GPU_HOOKD_ROOT, ...); none when not given (pass process.env). */
  env?: NodeJS.ProcessEnv;
  /** From parseDaemonArgs. */
  args?: DaemonArgs;
}

const FLAGS: Record<string, keyof DaemonArgs> = {
  '--config': 'config',
  '--root': 'root',
  '--bus': 'bus',
  '--state-dir': 'stateDir',
  '--metrics-dir': 'metricsDir',
};

export const DAEMON_USAGE =
  'usage: gpu-hookd [--config FILE] [--root DIR] [--bus ADDRESS] [--state-dir DIR] [--metrics-dir DIR] [--help]';

/** Parses gpu-hookd's command line (without node and the script): `--flag value` or `--flag=value`. */
export function parseDaemonArgs(argv: readonly string[]): DaemonArgs {
  const args: DaemonArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      args.help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const field = Object.hasOwn(FLAGS, name) ? FLAGS[name] : undefined;
    if (!field) {
      const what = arg.startsWith('-') ? `unknown option ${arg}` : `unexpected argument ${JSON.stringify(arg)}`;
      throw argError(name, `${what}; ${DAEMON_USAGE}`);
    }
    let value: string | undefined;
    if (eq > 0) {
      value = arg.slice(eq + 1);
    } else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw argError(name, `option ${name} needs a value; ${DAEMON_USAGE}`);
    (args as Record<string, string>)[field] = value;
  }
  return args;
}

function argError(flag: string, sentence: string): ConfigError {
  return new ConfigError([{ source: flag, key: '', sentence }]);
}

/** Reads, validates and merges the config: defaults < file < environment < command line. */
export function loadConfig(options: LoadOptions = {}): ResolvedConfig {
  const env = options.env ?? {};
  const args = options.args ?? {};
  const file = args.config !== undefined ? path.resolve(args.config) : (options.path ?? DEFAULT_CONFIG_PATH);
  const raw = readConfigFile(file, args.config !== undefined);
  const config = validateConfigObject(raw ?? {}, file);
  applyOverrides(config, env, args);
  return { ...config, file: { path: file, found: raw !== undefined } };
}

/** The file's JSON object, or undefined when it does not exist and was not asked for by name. */
function readConfigFile(file: string, named: boolean): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    if (code === 'ENOENT' && !named) return undefined;
    const sentence =
      code === 'ENOENT'
        ? `${file} does not exist: fix the path given to --config or create the file`
        : `${file} cannot be read (${code}): make it a file that root can read`;
    throw new ConfigError([{ source: file, key: '', sentence }]);
  }
  return parseConfigText(text, file);
}

/** Parses the file's text; a syntax error names the line and column. */
function parseConfigText(text: string, source: string): unknown {
  if (text.trim() === '') {
    throw new ConfigError([{ source, key: '', sentence: `${source}: the file is empty; write a JSON object ({} for every default)` }]);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const at = /position (\d+)/.exec(message);
    const where = at ? ` at ${lineAndColumn(text, Number(at[1]))}` : '';
    const reason = message.replace(/ in JSON at position .*$/s, '');
    const sentence = `${source}: not valid JSON${where} (${reason}); fix the syntax`;
    throw new ConfigError([{ source, key: '', sentence }]);
  }
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `line ${before.length}, column ${before[before.length - 1].length + 1}`;
}

/** Validates a parsed config file; throws ConfigError listing every problem. */
export function validateConfigObject(raw: unknown, source: string): DaemonConfig {
  if (!isPlainObject(raw)) {
    throw new ConfigError([{ source, key: '', sentence: `${source}: must hold one JSON object of settings, got ${show(raw)}` }]);
  }
  const { vms: rawVms, ...rest } = raw;
  const problems = checkShape(rest, { ...CONFIG_SCHEMA, vms: null }, '', source);
  const checked = problems.length ? undefined : runConvict(convictSchema, rest, source, '');
  if (checked) problems.push(...checked.problems);
  const vms = rawVms === undefined ? {} : validateVms(rawVms, source, problems);
  if (problems.length || !checked?.value) throw new ConfigError(problems);
  return { ...checked.value, vms };
}

/** Unknown keys, objects where settings belong, and values of the wrong type; convict checks the rest. */
function checkShape(raw: Record<string, unknown>, schema: Record<string, unknown>, prefix: string, source: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const key = prefix + name;
    if (!Object.hasOwn(schema, name)) {
      problems.push(unknownKey(source, key, name, Object.keys(schema), prefix));
      continue;
    }
    const node = schema[name];
    if (node === null) continue;
    if (isSetting(node)) {
      // convict coerces a string to the default's type (so "no" would become true) and merges an
      // object into a value's place: a value not of the default's type is refused here, in the words
      // of the setting's own format.
      if (typeof value !== typeof node.default || isPlainObject(value)) problems.push(formatProblem(node, value, source, key));
    } else if (!isPlainObject(value)) {
      problems.push({ source, key, sentence: `${source}: ${key} must be an object of settings, got ${show(value)}` });
    } else {
      problems.push(...checkShape(value, node as Record<string, unknown>, `${key}.`, source));
    }
  }
  return problems;
}

function formatProblem(setting: Setting<unknown>, value: unknown, source: string, key: string): ConfigProblem {
  try {
    setting.format(value);
    return { source, key, sentence: `${source}: ${key} is not a valid value, got ${show(value)}` };
  } catch (e) {
    return { source, key, sentence: `${source}: ${key} ${(e as Error).message}, got ${show(value)}` };
  }
}

function unknownKey(source: string, key: string, name: string, known: string[], prefix: string): ConfigProblem {
  const near = closest(name, known);
  const hint = near ? `did you mean ${prefix}${near}?` : `known here: ${known.join(', ')}`;
  return { source, key, sentence: `${source}: ${key} is not a known setting (${hint})` };
}

/** The known name nearest to a misspelt one (same but for case, or up to two edits away). */
function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length];
}

/**
 * Lets convict fill the defaults and check every value. Its report is one line per bad value,
 * "<key>: <our format's reason>[: value was ...]", which becomes our sentence.
 */
function runConvict<T>(schema: Schema<T>, raw: Record<string, unknown>, source: string, keyPrefix: string): { value?: T; problems: ConfigProblem[] } {
  const config = convict(schema, { env: {}, args: [] }).load(raw);
  try {
    config.validate({ allowed: 'strict' });
    return { value: config.getProperties() as T, problems: [] };
  } catch (e) {
    return { problems: (e as Error).message.split('\n').map((line) => convictProblem(line, raw, source, keyPrefix)) };
  }
}

function convictProblem(line: string, raw: Record<string, unknown>, source: string, keyPrefix: string): ConfigProblem {
  const match = /^([\w.]+): (.*?)(?:: value was .*)?$/.exec(line);
  if (!match) return { source, key: '', sentence: `${source}: ${line}` };
  const [, name, reason] = match;
  const key = keyPrefix + name;
  return { source, key, sentence: `${source}: ${key} ${reason}, got ${show(valueAt(raw, name))}` };
}

function validateVms(rawVms: unknown, source: string, problems: ConfigProblem[]): Record<string, Partial<VmSettings>> {
  if (!isPlainObject(rawVms)) {
    problems.push({ source, key: 'vms', sentence: `${source}: vms must be an object of per-VM sections keyed by domain name, got ${show(rawVms)}` });
    return {};
  }
  const vms: [string, Partial<VmSettings>][] = [];
  for (const [name, section] of Object.entries(rawVms)) {
    const key = `vms.${name}`;
    const nameProblem = domainNameProblem(name);
    if (nameProblem) {
      problems.push({ source, key, sentence: `${source}: the section vms.${showDomainName(name)} ${nameProblem}: key each section by the domain's name as virsh shows it` });
    } else if (!isPlainObject(section)) {
      problems.push({ source, key, sentence: `${source}: ${key} must be an object of per-VM settings, got ${show(section)}` });
    } else {
      const found = checkVmSection(section, source, `${key}.`);
      problems.push(...found);
      if (found.length === 0) vms.push([name, section as Partial<VmSettings>]);
    }
  }
  // fromEntries defines own properties, so even a domain named "__proto__" is just a name.
  return Object.fromEntries(vms);
}

/** Some per-VM settings checked against VM_SETTINGS_SCHEMA; keys are named `<keyPrefix><key>`. */
function checkVmSection(section: Record<string, unknown>, source: string, keyPrefix: string): ConfigProblem[] {
  const shape = checkShape(section, VM_SETTINGS_SCHEMA, keyPrefix, source);
  return shape.length ? shape : runConvict(vmSchema, section, source, keyPrefix).problems;
}

const vmSchema = VM_SETTINGS_SCHEMA as unknown as Schema<VmSettings>;

function applyOverrides(config: DaemonConfig, env: NodeJS.ProcessEnv, args: DaemonArgs): void {
  const fromArgs: Record<OverridableKey, string | undefined> = {
    'host.root': args.root,
    'bus.address': args.bus,
    'state.dir': args.stateDir,
    'metrics.textfileDir': args.metricsDir,
  };
  for (const override of OVERRIDES) {
    const [group, leaf] = override.key.split('.') as ['host' | 'bus' | 'state' | 'metrics', string];
    const setting = (CONFIG_SCHEMA[group] as Record<string, { format: (v: unknown) => void }>)[leaf];
    for (const [source, value] of [
      [override.env, env[override.env]],
      [override.flag, fromArgs[override.key]],
    ] as const) {
      if (value === undefined) continue;
      // A relative directory on the command line or in the environment means one below the current one.
      const resolved = override.key === 'bus.address' || value === '' ? value : path.resolve(value);
      try {
        setting.format(resolved);
      } catch (e) {
        const sentence = `${source}: ${override.key} ${(e as Error).message}, got ${show(value)}`;
        throw new ConfigError([{ source, key: override.key, sentence }]);
      }
      (config[group] as Record<string, string>)[leaf] = resolved;
    }
  }
}

/** One VM's settings: its domain <metadata> over its `vms.<name>` section over `defaults`. */
export function vmSettings(config: DaemonConfig, vmName: string, metadata: Readonly<Record<string, unknown>> = {}): VmSettings {
  const source = `domain ${vmName} <metadata>`;
  const fromMetadata: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(metadata)) {
    if (value === undefined) continue;
    const setting = Object.hasOwn(VM_SETTINGS_SCHEMA, name) ? VM_SETTINGS_SCHEMA[name as keyof VmSettings] : undefined;
    // XML attributes are strings; libvirt's own convention for booleans is yes/no.
    fromMetadata[name] = setting && typeof setting.default === 'boolean' ? xmlBoolean(value) : value;
  }
  const problems = checkVmSection(fromMetadata, source, '');
  if (problems.length) throw new ConfigError(problems);
  const section = Object.hasOwn(config.vms, vmName) ? config.vms[vmName] : {};
  return { ...config.defaults, ...section, ...(fromMetadata as Partial<VmSettings>) };
}

function xmlBoolean(value: unknown): unknown {
  if (value === 'yes' || value === 'true') return true;
  if (value === 'no' || value === 'false') return false;
  return value;
}

function valueAt(raw: Record<string, unknown>, dotted: string): unknown {
  let node: unknown = raw;
  for (const part of dotted.split('.')) node = isPlainObject(node) ? node[part] : undefined;
  return node;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
