// Which Debian releases the system lab boots: GPU_HOOKD_SYSTEM_RELEASES (comma-separated), or
// DEFAULT_RELEASES. npm test (and CI's lab:setup) take the default, Debian 12 alone: a boot with the
// whole story is 5-8 min under TCG. npm run lab:system boots both.

import type { Release } from './system-image';

const ALL: Release[] = ['bookworm', 'trixie'];
export const DEFAULT_RELEASES: Release[] = ['bookworm'];

function releasesFromEnv(value: string | undefined): Release[] {
  if (!value) return DEFAULT_RELEASES;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(ALL as string[]).includes(n));
  if (unknown.length > 0) throw new Error(`GPU_HOOKD_SYSTEM_RELEASES names ${unknown.join(', ')}: the system lab knows ${ALL.join(', ')}`);
  return names as Release[];
}

export const SYSTEM_RELEASES = releasesFromEnv(process.env.GPU_HOOKD_SYSTEM_RELEASES);
