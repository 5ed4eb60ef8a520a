// Loading one function of the project's own addons (build/Release/<name>.node, built by npm install
// from native/). A HostIO asks them for what only an ioctl can tell; when one cannot be loaded the
// caller gets the reason as a phrase and answers without the kernel.

import * as path from 'node:path';

const loaded = new Map<string, unknown>();

/** `name` of build/Release/<addon>.node, or why it cannot be loaded ("... run npm install to build it"). */
export function addonFunction<F extends (...args: never[]) => unknown>(addon: string, name: string): F | string {
  const file = path.resolve(__dirname, `../../../build/Release/${addon}.node`);
  const key = `${file}#${name}`;
  if (!loaded.has(key)) {
    const module = { exports: {} as Record<string, unknown> };
    try {
      process.dlopen(module, file);
      const fn = module.exports[name];
      loaded.set(key, typeof fn === 'function' ? fn : `${file} exports no ${name}()`);
    } catch (e) {
      loaded.set(key, `${file} cannot be loaded (${(e as Error).message.split('\n')[0]}): run npm install to build it`);
    }
  }
  return loaded.get(key) as F | string;
}
