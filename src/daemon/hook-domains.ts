// Which domains the libvirt hook must forward although their XML names nothing of ours: VMs that ask
// for CPU work only in config.json. The hook must stay a thin client that costs a few milliseconds for
// a VM asking nothing, so it cannot read the config; the daemon decides and publishes the answer as
// <state.dir>/hook-domains, one domain name per line ("*" for every domain), which the hook looks up
// with bash builtins alone (hooks/qemu, docs/hook.md).

import * as path from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../engine/atomic-file';
import { readCpuJournals } from '../cpu/cpu-journal';
import { wantsCpuWork } from '../cpu/vm-cpu-layout';
import type { DaemonConfig } from './config-schema';

export const HOOK_DOMAINS_FILE = 'hook-domains';
/** The line that stands for every domain. */
export const EVERY_DOMAIN = '*';

export interface HookDomains {
  /** The defaults ask it of every VM: the hook forwards every domain. */
  every: boolean;
  /** Otherwise these domains, sorted. */
  names: string[];
}

/**
 * The domains to forward, from the config and `holding` (VMs with CPU changes on record, whose release
 * must reach the daemon even after their section was edited away). Without a GPU in its XML, a VM gets
 * only CPU work from gpu-hookd (the handover settings need a GPU, and a GPU is in the XML, which the
 * hook sees), so that is what decides. A name with a newline is left out: libvirt refuses such names.
 */
export function hookDomains(config: Pick<DaemonConfig, 'defaults' | 'vms'>, holding: readonly string[] = []): HookDomains {
  if (wantsCpuWork(config.defaults)) return { every: true, names: [] };
  const asking = Object.entries(config.vms)
    .filter(([, section]) => wantsCpuWork({ ...config.defaults, ...section }))
    .map(([name]) => name);
  const names = [...new Set([...asking, ...holding])].filter((name) => !name.includes('\n')).sort();
  return { every: false, names };
}

/** The file's text: one name per line. (A domain named "*" is forwarded with every other: harmless.) */
export function hookDomainsText(domains: HookDomains): string {
  return (domains.every ? [EVERY_DOMAIN] : domains.names).map((line) => `${line}\n`).join('');
}

/**
 * Returns `publish(config)`, which writes <stateDir>/hook-domains atomically for that config. Writes run
 * one at a time in the order asked, so two quick reloads cannot leave the older list. It never rejects:
 * a failure is logged, and the hook keeps the file it had.
 */
export function hookDomainsPublisher(stateDir: string, log: Logger): (config: Pick<DaemonConfig, 'defaults' | 'vms'>) => Promise<void> {
  const file = path.join(stateDir, HOOK_DOMAINS_FILE);
  let queue = Promise.resolve();
  let written: string | undefined;
  return (config) => {
    queue = queue.then(async () => {
      let text = '';
      try {
        const holding = readCpuJournals(stateDir).flatMap((found) => ('entry' in found ? [found.entry.vm] : []));
        text = hookDomainsText(hookDomains(config, holding));
        await writeFileAtomic(file, text);
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        log.error(
          { event: 'hook-domains', file, err: (e as Error).message },
          `could not write ${file} (${why}), so the libvirt hook may not call gpu-hookd for VMs that ask for CPU work only in the config; make ${stateDir} writable for gpu-hookd and reload it`,
        );
        return;
      }
      if (text === written) return;
      written = text;
      const forwarded = text === '' ? 'none' : text.trimEnd().split('\n').join(', ');
      log.info({ event: 'hook-domains', file, domains: forwarded }, `the libvirt hook calls gpu-hookd for domains without a GPU in their XML: ${forwarded}`);
    });
    return queue;
  };
}
