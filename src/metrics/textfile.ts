// The one place the metrics file is written. node_exporter's textfile collector reads every *.prom
// file in its directory at each scrape: a file replaced by rename is read whole, old or new, never
// half. The temporary name does not end in .prom, so the collector never reads it.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const METRICS_FILE = 'gpu-hookd.prom';

/** Replaces `file` with `text` in one rename within its directory, readable by node_exporter's user. */
export async function replaceTextfile(file: string, text: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  try {
    await fs.promises.writeFile(temp, text, { mode: 0o644 });
    // The unit's UMask=0077 narrows the mode given at creation; node_exporter runs as another user.
    await fs.promises.chmod(temp, 0o644);
    await fs.promises.rename(temp, file);
  } catch (e) {
    await fs.promises.rm(temp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** Removes `file`; absent is fine. */
export async function removeTextfile(file: string): Promise<void> {
  await fs.promises.rm(file, { force: true });
}
