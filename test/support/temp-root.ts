// Every test that touches a host tree gets its own temporary root. The harness refuses "/" and any
// directory outside the system temp dir, so no test can ever reach this machine's real /sys.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function assertSafeTestRoot(root: string): string {
  const real = fs.realpathSync(root);
  const tmp = fs.realpathSync(os.tmpdir());
  if (real === '/' || !real.startsWith(tmp + path.sep)) {
    throw new Error(`test harness refuses host root ${root}: tests only run against a temporary root under ${tmp}`);
  }
  return real;
}

/** A fresh empty directory under the temp dir; removed by the returned cleanup. */
export function makeTempRoot(prefix = 'gpu-hookd-test-'): { root: string; cleanup: () => void } {
  const root = assertSafeTestRoot(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  return { root, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}
