// `npm run lab:setup`: fetch the lab's kernel (the current dependency of linux-image-amd64) and build
// its images and the nested-QEMU sysroot into the cache ahead of the test run, so CI shows setup
// apart from the tests.

import { prepareLabImage } from './lab-image';
import { prepareNestedSysroot } from '../nested/nested-sysroot';

async function setup(): Promise<void> {
  const image = await prepareLabImage();
  console.log(`lab kernel ${image.kernel.version} and images ready in ${image.cacheDir}`);
  await prepareNestedSysroot(image.cacheDir);
  console.log('nested QEMU sysroot ready');
}

setup().catch((e: unknown) => {
  console.error(`lab setup failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
