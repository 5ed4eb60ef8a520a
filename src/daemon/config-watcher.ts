// Live reload of the config file. An edit that validates replaces the config; one that does not is
// reported (which key, and why) while the last good config stays in force. The directory is
// watched rather than the file, so editors that write a new file and rename it over the old one,
// and a file deleted and created again, are all seen.

import { watch } from 'chokidar';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadConfig, type DaemonArgs, type ResolvedConfig } from './config';

export interface WatchConfigOptions {
  /** The same environment and command line as at start, so overrides survive a reload. */
  env?: NodeJS.ProcessEnv;
  args?: DaemonArgs;
  /**
   * Events closer together than this are one edit: an editor's write, rename and chmod, or a
   * file written in several pieces, are read once when they are over. Default 100 ms.
   */
  settleMs?: number;
}

/**
 * Watches `file`; resolves, once watching, to the function that stops it. onGoodConfig gets every
 * valid new content, onBadConfig every invalid one (and the file's removal) as a ConfigError.
 * The file's directory must exist (the package creates /etc/gpu-hookd); the file need not.
 */
export async function watchConfig(
  file: string,
  onGoodConfig: (config: ResolvedConfig) => void,
  onBadConfig: (error: ConfigError) => void,
  options: WatchConfigOptions = {},
): Promise<() => Promise<void>> {
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const settleMs = options.settleMs ?? 100;
  let lastText = readText(target);
  let removed = !fs.existsSync(target);
  let timer: NodeJS.Timeout | undefined;

  const reload = (): void => {
    timer = undefined;
    if (!fs.existsSync(target)) {
      if (removed) return;
      removed = true;
      lastText = undefined;
      const sentence = `${target} was removed: the last good config stays in force until the file is back`;
      onBadConfig(new ConfigError([{ source: target, key: '', sentence }]));
      return;
    }
    removed = false;
    const text = readText(target);
    // Touching the file, or writing the same bytes again, is no edit.
    if (text !== undefined && text === lastText) return;
    lastText = text;
    try {
      onGoodConfig(loadConfig({ path: target, env: options.env, args: { ...options.args, config: target } }));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      onBadConfig(e);
    }
  };

  const watcher = watch(dir, {
    depth: 0,
    ignoreInitial: true,
    ignored: (p: string) => p !== dir && path.basename(p) !== path.basename(target),
  });
  watcher.on('all', () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, settleMs);
  });
  watcher.on('error', (e: unknown) => {
    const sentence = `watching ${dir} for config edits failed (${(e as Error).message}): edits are not seen until gpu-hookd restarts`;
    onBadConfig(new ConfigError([{ source: target, key: '', sentence }]));
  });
  await new Promise<void>((resolve) => watcher.once('ready', resolve));

  return async () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    await watcher.close();
  };
}

/** The file's text, or undefined when it cannot be read (loadConfig then says why). */
function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
