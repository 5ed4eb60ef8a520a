import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../../src/daemon/config';
import { CONFIG_SCHEMA, isSetting } from '../../../src/daemon/config-schema';
import { makeTempRoot } from '../../support/temp-root';

const REPO = path.resolve(__dirname, '../../../..');

describe('loading the config file', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;

  beforeEach(() => {
    ({ root: dir, cleanup } = makeTempRoot('gpu-hookd-config-'));
    file = path.join(dir, 'config.json');
  });
  afterEach(() => cleanup());

  const write = (content: unknown): void =>
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));

  it('reads the file and fills in the defaults', () => {
    write({ timeouts: { unbindMs: 2000 }, vms: { win10: { pin: 'auto' } } });
    const config = loadConfig({ path: file });
    assert.equal(config.timeouts.unbindMs, 2000);
    assert.equal(config.state.dir, '/var/lib/gpu-hookd');
    assert.deepEqual(config.vms, { win10: { pin: 'auto' } });
    assert.deepEqual(config.file, { path: file, found: true });
  });

  it('uses every default when the file does not exist', () => {
    const config = loadConfig({ path: file });
    assert.equal(config.host.root, '/');
    assert.deepEqual(config.file, { path: file, found: false });
  });

  it('refuses a file named with --config that does not exist', () => {
    assert.throws(() => loadConfig({ args: { config: file } }), {
      name: 'ConfigError',
      message: `${file} does not exist: fix the path given to --config or create the file`,
    });
  });

  it('says when the file cannot be read', () => {
    fs.mkdirSync(file);
    assert.throws(() => loadConfig({ path: file }), { message: `${file} cannot be read (EISDIR): make it a file that root can read` });
  });

  it('names the line and column of a JSON syntax error', () => {
    write('{\n  "log": { "level": "debug", }\n}\n');
    assert.throws(
      () => loadConfig({ path: file }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.startsWith(`${file}: not valid JSON at line 2, column 30 (`) &&
        e.message.endsWith('); fix the syntax') &&
        !e.message.includes('position'),
    );
  });

  it('refuses an empty file, saying what to write', () => {
    write('\n');
    assert.throws(() => loadConfig({ path: file }), { message: `${file}: the file is empty; write a JSON object ({} for every default)` });
  });

  it('names the file, the key and the value of a bad setting', () => {
    write({ timeouts: { unbindMs: -5 } });
    assert.throws(() => loadConfig({ path: file }), { message: `${file}: timeouts.unbindMs must be a positive integer, got -5` });
  });

  describe('overrides for root, bus, state and metrics directories', () => {
    beforeEach(() => write({ host: { root: '/from/file' }, bus: { address: 'unix:path=/from/file' }, state: { dir: '/from/file' } }));

    it('lets the environment override the file', () => {
      const config = loadConfig({
        path: file,
        env: { GPU_HOOKD_ROOT: '/from/env', GPU_HOOKD_BUS: 'unix:path=/from/env', GPU_HOOKD_STATE_DIR: '/from/env/state', GPU_HOOKD_METRICS_DIR: '/from/env/prom' },
      });
      assert.equal(config.metrics.textfileDir, '/from/env/prom');
      assert.equal(config.host.root, '/from/env');
      assert.equal(config.bus.address, 'unix:path=/from/env');
      assert.equal(config.state.dir, '/from/env/state');
    });

    it('lets the command line override the environment', () => {
      const config = loadConfig({
        path: file,
        env: { GPU_HOOKD_ROOT: '/from/env', GPU_HOOKD_BUS: 'unix:path=/from/env', GPU_HOOKD_STATE_DIR: '/from/env' },
        args: { root: '/from/args', bus: 'unix:path=/from/args', stateDir: '/from/args/state', metricsDir: '' },
      });
      // An empty metrics directory: no metrics.
      assert.equal(config.metrics.textfileDir, '');
      assert.equal(config.host.root, '/from/args');
      assert.equal(config.bus.address, 'unix:path=/from/args');
      assert.equal(config.state.dir, '/from/args/state');
    });

    it('keeps the file\'s value for what is not overridden, and an empty bus means the system bus', () => {
      const config = loadConfig({ path: file, env: { GPU_HOOKD_BUS: '' } });
      assert.equal(config.bus.address, '');
      assert.equal(config.host.root, '/from/file');
    });

    it('takes a relative directory from the current one', () => {
      const config = loadConfig({ path: file, args: { root: 'sim-root' }, env: { GPU_HOOKD_STATE_DIR: './state' } });
      assert.equal(config.host.root, path.resolve('sim-root'));
      assert.equal(config.state.dir, path.resolve('state'));
    });

    it('reads the file named by --config over the default path', () => {
      const other = path.join(dir, 'other.json');
      fs.writeFileSync(other, JSON.stringify({ access: { group: 'vfio' } }));
      const config = loadConfig({ path: file, args: { config: other } });
      assert.equal(config.access.group, 'vfio');
      assert.deepEqual(config.file, { path: other, found: true });
    });

    it('names the variable or flag that carried a bad value', () => {
      assert.throws(() => loadConfig({ path: file, env: { GPU_HOOKD_ROOT: '' } }), {
        message: 'GPU_HOOKD_ROOT: host.root must be an absolute path, got ""',
      });
      assert.throws(() => loadConfig({ path: file, args: { bus: '/run/dbus/system_bus_socket' } }), {
        message: '--bus: bus.address must be empty (the system bus) or a D-Bus address such as "unix:path=/run/dbus/system_bus_socket", got "/run/dbus/system_bus_socket"',
      });
    });
  });

  describe('the shipped example', () => {
    const example = path.join(REPO, 'packaging/config.example.json');

    it('validates', () => {
      assert.equal(loadConfig({ path: example }).vms.win10.holders, 'terminate');
    });

    it('sets every key of the schema, so it shows them all', () => {
      const raw = JSON.parse(fs.readFileSync(example, 'utf8')) as Record<string, unknown>;
      const missing: string[] = [];
      const visit = (schema: object, values: Record<string, unknown>, prefix: string): void => {
        for (const [name, node] of Object.entries(schema)) {
          if (!(name in values)) missing.push(prefix + name);
          else if (!isSetting(node)) visit(node as object, values[name] as Record<string, unknown>, `${prefix}${name}.`);
        }
      };
      visit({ ...CONFIG_SCHEMA, vms: { default: {}, format: () => undefined } }, raw, '');
      assert.deepEqual(missing, []);
    });
  });
});
