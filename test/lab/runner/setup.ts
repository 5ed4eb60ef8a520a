// `npm run lab:setup`: fetch the lab's kernel (the current dependency of linux-image-amd64) and build
// its images into the cache ahead of the test run, so CI shows setup apart from the tests.

import { prepareLabImage } from './lab-image';

prepareLabImage().then(
  (image) => console.log(`lab ready: ${JSON.stringify(image, (_k, v: unknown) => (typeof v === 'string' && v.length > 200 ? `${v.slice(0, 200)}...` : v))}`),
  (e: unknown) => {
    console.error(`lab setup failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
