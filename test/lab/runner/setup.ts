// `npm run lab:setup`: fetch the lab's kernel (the current dependency of linux-image-amd64) and build
// its images, the nested-QEMU sysroot and the system lab's Debian images into the cache ahead of the
// test run, so CI shows setup apart from the tests.

import { prepareLabImage } from './lab-image';
import { prepareNestedSysroot } from '../nested/nested-sysroot';
import { prepareSystemImage } from '../system/system-image';
import { SYSTEM_RELEASES } from '../system/system-releases';

async function setup(): Promise<void> {
  const image = await prepareLabImage();
  console.log(`lab kernel ${image.kernel.version} and images ready in ${image.cacheDir}`);
  await prepareNestedSysroot(image.cacheDir);
  console.log('nested QEMU sysroot ready');
  for (const release of SYSTEM_RELEASES) {
    const started = Date.now();
    const system = await prepareSystemImage(image.cacheDir, release);
    console.log(`system lab image ${release} ready in ${((Date.now() - started) / 1000).toFixed(0)} s: ${system.dir}`);
  }
}

setup().catch((e: unknown) => {
  console.error(`lab setup failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
