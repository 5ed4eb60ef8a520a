import assert from 'node:assert/strict';
import { ConfigError, validateConfigObject, vmSettings } from '../../../src/daemon/config';

const config = validateConfigObject(
  {
    defaults: { holders: 'refuse', pin: 'auto', governor: true },
    vms: { win10: { holders: 'terminate', isolateCpus: true }, linux: { pin: 'none' } },
  },
  '/etc/gpu-hookd/config.json',
);

describe('per-VM settings: metadata > vms.<name> > defaults', () => {
  it('gives a VM without a section the defaults', () => {
    const s = vmSettings(config, 'other');
    assert.equal(s.holders, 'refuse');
    assert.equal(s.pin, 'auto');
    assert.equal(s.governor, true);
    assert.equal(s.displayManagerUnit, 'display-manager.service');
  });

  it('lets the VM\'s section override the defaults it names, and only those', () => {
    const s = vmSettings(config, 'win10');
    assert.equal(s.holders, 'terminate');
    assert.equal(s.isolateCpus, true);
    assert.equal(s.pin, 'auto');
    assert.equal(vmSettings(config, 'linux').pin, 'none');
  });

  it('lets the domain metadata override both, reading XML booleans as yes/no or true/false', () => {
    const s = vmSettings(config, 'win10', { holders: 'refuse', isolateCpus: 'no', governor: 'false', irqAffinity: 'yes', pin: 'none' });
    assert.equal(s.holders, 'refuse');
    assert.equal(s.isolateCpus, false);
    assert.equal(s.governor, false);
    assert.equal(s.irqAffinity, true);
    assert.equal(s.pin, 'none');
  });

  it('accepts typed values and skips undefined ones', () => {
    const s = vmSettings(config, 'win10', { endSessions: true, holders: undefined });
    assert.equal(s.endSessions, true);
    assert.equal(s.holders, 'terminate');
  });

  it('refuses a bad metadata value with one sentence naming the domain and the attribute', () => {
    assert.throws(
      () => vmSettings(config, 'win10', { pin: 'always' }),
      (e: unknown) => e instanceof ConfigError && e.message === 'domain win10 <metadata>: pin must be one of "none", "auto", got "always"',
    );
    assert.throws(
      () => vmSettings(config, 'win10', { isolateCpus: 'maybe' }),
      { message: 'domain win10 <metadata>: isolateCpus must be true or false, got "maybe"' },
    );
    assert.throws(
      () => vmSettings(config, 'win10', { holder: 'terminate' }),
      { message: 'domain win10 <metadata>: holder is not a known setting (did you mean holders?)' },
    );
  });

  it('marks its errors as invalid arguments for the D-Bus layer', () => {
    assert.throws(() => vmSettings(config, 'win10', { pin: 'always' }), { kind: 'InvalidArgument' });
  });

  it('treats any domain name as a name, even one that is an Object property', () => {
    const odd = validateConfigObject(JSON.parse('{"vms": {"__proto__": {"pin": "auto"}}}'), 'f');
    assert.equal(vmSettings(odd, '__proto__').pin, 'auto');
    assert.equal(vmSettings(odd, 'constructor').pin, 'none');
    assert.equal(vmSettings(config, 'toString').holders, 'refuse');
  });

  it('does not change the config it resolves from', () => {
    vmSettings(config, 'win10', { pin: 'none' });
    assert.deepEqual(config.vms.win10, { holders: 'terminate', isolateCpus: true });
  });
});
