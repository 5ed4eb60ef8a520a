import assert from 'node:assert/strict';
import { ConfigError, validateConfigObject } from '../../../src/daemon/config';
import { CONFIG_SCHEMA, VM_SETTINGS_SCHEMA, isSetting } from '../../../src/daemon/config-schema';

const FILE = '/etc/gpu-hookd/config.json';

function problemOf(raw: unknown): string {
  try {
    validateConfigObject(raw, FILE);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.message;
  }
  assert.fail(`accepted ${JSON.stringify(raw)}`);
}

/** Dotted keys of the leaves of a raw config (or, with `schema`, of the schema's settings). */
function leafKeys(node: unknown, prefix: string, schema = false): string[] {
  if (typeof node !== 'object' || node === null || Array.isArray(node) || (schema && isSetting(node))) return prefix ? [prefix.slice(0, -1)] : [];
  return Object.entries(node).flatMap(([k, v]) => leafKeys(v, `${prefix}${k}.`, schema));
}

describe('config validation', () => {
  it('fills every default from an empty file', () => {
    const config = validateConfigObject({}, FILE);
    assert.deepEqual(config, {
      host: { root: '/' },
      bus: { address: '' },
      state: { dir: '/var/lib/gpu-hookd' },
      metrics: { textfileDir: '/var/lib/prometheus/node-exporter' },
      access: { group: 'gpuhookd' },
      log: { level: 'info' },
      timeouts: { unbindMs: 10_000, probeMs: 5_000, devVfioMs: 5_000, displayManagerStopMs: 20_000, sessionEndMs: 3_000, hookCallMs: 120_000 },
      giveBack: { resets: 2 },
      defaults: {
        displayManagerUnit: 'display-manager.service',
        endSessions: false,
        unloadModules: false,
        holders: 'refuse',
        isolateCpus: false,
        pin: 'none',
        governor: false,
        irqAffinity: false,
        housekeepingCpus: '',
        resetRisk: 'warn',
      },
      vms: {},
    });
  });

  it('keeps the values a file sets and the defaults of the rest', () => {
    const config = validateConfigObject(
      { timeouts: { unbindMs: 2500 }, defaults: { holders: 'terminate' }, bus: { address: 'unix:path=/tmp/t/bus' } },
      FILE,
    );
    assert.equal(config.timeouts.unbindMs, 2500);
    assert.equal(config.timeouts.probeMs, 5000);
    assert.equal(config.defaults.holders, 'terminate');
    assert.equal(config.defaults.pin, 'none');
    assert.equal(config.bus.address, 'unix:path=/tmp/t/bus');
  });

  const badValues: [string, unknown, string][] = [
    ['a negative timeout', { timeouts: { unbindMs: -5 } }, `${FILE}: timeouts.unbindMs must be a positive integer, got -5`],
    ['a zero timeout', { timeouts: { probeMs: 0 } }, `${FILE}: timeouts.probeMs must be a positive integer, got 0`],
    ['a fractional timeout', { timeouts: { devVfioMs: 1.5 } }, `${FILE}: timeouts.devVfioMs must be a positive integer, got 1.5`],
    ['a timeout as a string', { timeouts: { hookCallMs: '5000' } }, `${FILE}: timeouts.hookCallMs must be a positive integer, got "5000"`],
    ['a timeout over an hour', { timeouts: { displayManagerStopMs: 3_600_001 } }, `${FILE}: timeouts.displayManagerStopMs must be at most 3600000 (one hour), got 3600001`],
    ['a session wait of 0 ms', { timeouts: { sessionEndMs: 0 } }, `${FILE}: timeouts.sessionEndMs must be a positive integer, got 0`],
    ['a negative number of resets', { giveBack: { resets: -1 } }, `${FILE}: giveBack.resets must be a whole number from 0 to 5, got -1`],
    ['too many resets', { giveBack: { resets: 6 } }, `${FILE}: giveBack.resets must be a whole number from 0 to 5, got 6`],
    ['an unknown reset policy', { defaults: { resetRisk: 'ignore' } }, `${FILE}: defaults.resetRisk must be one of "warn", "refuse", got "ignore"`],
    ['a relative root', { host: { root: 'sim' } }, `${FILE}: host.root must be an absolute path, got "sim"`],
    ['a relative metrics directory', { metrics: { textfileDir: 'prom' } }, `${FILE}: metrics.textfileDir must be an absolute path, or "" for no metrics, got "prom"`],
    ['a null state dir', { state: { dir: null } }, `${FILE}: state.dir must be an absolute path, got null`],
    ['a bus that is no D-Bus address', { bus: { address: '/run/dbus/system_bus_socket' } }, `${FILE}: bus.address must be empty (the system bus) or a D-Bus address such as "unix:path=/run/dbus/system_bus_socket", got "/run/dbus/system_bus_socket"`],
    ['a group with capitals', { access: { group: 'Wheel' } }, `${FILE}: access.group must be a Unix group name (lower-case letters, digits, "_" and "-", at most 32 characters), got "Wheel"`],
    ['an unknown log level', { log: { level: 'loud' } }, `${FILE}: log.level must be one of "fatal", "error", "warn", "info", "debug", "trace", got "loud"`],
    ['a unit that is no service', { defaults: { displayManagerUnit: 'gdm' } }, `${FILE}: defaults.displayManagerUnit must be a systemd service unit name such as "display-manager.service", got "gdm"`],
    ['a boolean as a string', { defaults: { endSessions: 'yes' } }, `${FILE}: defaults.endSessions must be true or false, got "yes"`],
    ['a boolean as a number', { defaults: { unloadModules: 1 } }, `${FILE}: defaults.unloadModules must be true or false, got 1`],
    ['a null flag', { defaults: { isolateCpus: null } }, `${FILE}: defaults.isolateCpus must be true or false, got null`],
    ['a flag as a word', { defaults: { governor: 'performance' } }, `${FILE}: defaults.governor must be true or false, got "performance"`],
    ['a flag as a list', { defaults: { irqAffinity: [] } }, `${FILE}: defaults.irqAffinity must be true or false, got an array`],
    ['an unknown holders policy', { defaults: { holders: 'kill' } }, `${FILE}: defaults.holders must be one of "refuse", "terminate", got "kill"`],
    ['an unknown pin mode', { defaults: { pin: 'all' } }, `${FILE}: defaults.pin must be one of "none", "auto", got "all"`],
    ['a malformed CPU list', { defaults: { housekeepingCpus: '0-1,' } }, `${FILE}: defaults.housekeepingCpus must be a CPU list such as "0-1,6-7", or "" to choose automatically, got "0-1,"`],
    ['an object where a value belongs', { log: { level: { name: 'debug' } } }, `${FILE}: log.level must be one of "fatal", "error", "warn", "info", "debug", "trace", got {"name":"debug"}`],
    ['a value where settings belong', { timeouts: 5 }, `${FILE}: timeouts must be an object of settings, got 5`],
    ['a misspelt section', { timeout: {} }, `${FILE}: timeout is not a known setting (did you mean timeouts?)`],
    ['a key in the wrong case', { defaults: { isolatecpus: true } }, `${FILE}: defaults.isolatecpus is not a known setting (did you mean defaults.isolateCpus?)`],
    ['a key far from any', { log: { colour: true } }, `${FILE}: log.colour is not a known setting (known here: level)`],
    ['a file that is an array', [], `${FILE}: must hold one JSON object of settings, got an array`],
    ['a file that is a string', 'x', `${FILE}: must hold one JSON object of settings, got "x"`],
  ];
  for (const [what, raw, sentence] of badValues) {
    it(`refuses ${what} with one sentence naming the key`, () => {
      assert.equal(problemOf(raw), sentence);
    });
  }

  it('has a refused value above for every setting of the schema', () => {
    const refused = new Set(badValues.flatMap(([, raw]) => leafKeys(raw, '')));
    for (const key of leafKeys(CONFIG_SCHEMA, '', true)) assert.ok(refused.has(key), `no bad value tried for ${key}`);
  });

  it('reports the first problem and counts the others', () => {
    const e = (() => {
      try {
        validateConfigObject({ host: { root: 'x' }, timeouts: { probeMs: -1 }, vms: { win10: { pin: 'x' } } }, FILE);
      } catch (err) {
        return err as ConfigError;
      }
      assert.fail('accepted');
    })();
    assert.equal(e.message, `${FILE}: host.root must be an absolute path, got "x"; 2 more: timeouts.probeMs, vms.win10.pin`);
    assert.deepEqual(e.problems.map((p) => p.key), ['host.root', 'timeouts.probeMs', 'vms.win10.pin']);
    assert.equal(e.key, 'host.root');
  });

  describe('per-VM sections', () => {
    it('keeps only the keys a section sets', () => {
      const config = validateConfigObject({ vms: { win10: { pin: 'auto', isolateCpus: true }, 'arch linux': {} } }, FILE);
      assert.deepEqual(config.vms, { win10: { pin: 'auto', isolateCpus: true }, 'arch linux': {} });
    });

    it('validates each section with the per-VM schema, naming vms.<name>.<key>', () => {
      assert.equal(problemOf({ vms: { win10: { pin: 'yes' } } }), `${FILE}: vms.win10.pin must be one of "none", "auto", got "yes"`);
      assert.equal(problemOf({ vms: { win10: { governor: 'on' } } }), `${FILE}: vms.win10.governor must be true or false, got "on"`);
      assert.equal(problemOf({ vms: { win10: { timeouts: {} } } }), `${FILE}: vms.win10.timeouts is not a known setting (known here: ${Object.keys(VM_SETTINGS_SCHEMA).join(', ')})`);
      assert.equal(problemOf({ vms: { win10: { pinn: 'auto' } } }), `${FILE}: vms.win10.pinn is not a known setting (did you mean vms.win10.pin?)`);
    });

    it('refuses a section that is not an object, a map that is not one, and a name libvirt cannot have', () => {
      assert.equal(problemOf({ vms: { win10: true } }), `${FILE}: vms.win10 must be an object of per-VM settings, got true`);
      assert.equal(problemOf({ vms: ['win10'] }), `${FILE}: vms must be an object of per-VM sections keyed by domain name, got an array`);
      assert.equal(problemOf({ vms: { 'a/b': {} } }), `${FILE}: the section vms."a/b" holds a "/", which libvirt does not allow: key each section by the domain's name as virsh shows it`);
    });

    it('refuses a section named with a control character, shown escaped, as every place a domain name enters does', () => {
      for (const [name, shown, code] of [['win\t10', '"win\\t10"', '0009'], ['win\n10', '"win\\n10"', '000A'], ['win\x7f', '"win\\u007f"', '007F'], ['\x00', '"\\u0000"', '0000']]) {
        assert.equal(
          problemOf({ vms: { [name]: {} } }),
          `${FILE}: the section vms.${shown} holds a control character (U+${code}), which gpu-hookd does not accept: key each section by the domain's name as virsh shows it`,
        );
      }
    });
  });
});
