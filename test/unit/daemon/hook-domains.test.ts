import assert from 'node:assert/strict';
import { validateConfigObject } from '../../../src/daemon/config';
import { VM_SETTINGS_SCHEMA } from '../../../src/daemon/config-schema';
import { hookDomains, hookDomainsText } from '../../../src/daemon/hook-domains';

const FILE = '/etc/gpu-hookd/config.json';
const configOf = (raw: object): ReturnType<typeof validateConfigObject> => validateConfigObject(raw, FILE);

/** Per-VM keys that ask for work on a VM's CPUs, which a VM without a GPU can ask for. */
const CPU_WORK = { isolateCpus: true, pin: 'auto', governor: true, irqAffinity: true } as const;
/** Per-VM keys that only shape work on a GPU or on CPUs asked for by another key. */
const NO_WORK_ALONE = { housekeepingCpus: '0', displayManagerUnit: 'gdm.service', endSessions: true, unloadModules: true, holders: 'terminate', resetRisk: 'refuse' } as const;

describe('hook-domains: which domains the hook forwards though their XML names nothing of ours', () => {
  it('every per-VM key is classified here: a new one must be decided on', () => {
    assert.deepEqual(Object.keys(VM_SETTINGS_SCHEMA).sort(), [...Object.keys(CPU_WORK), ...Object.keys(NO_WORK_ALONE)].sort());
  });

  it('the default config forwards no domain, and the file is empty', () => {
    const domains = hookDomains(configOf({}));
    assert.deepEqual(domains, { every: false, names: [] });
    assert.equal(hookDomainsText(domains), '');
  });

  for (const [key, value] of Object.entries(CPU_WORK)) {
    it(`a vms section with ${key}: ${JSON.stringify(value)} is forwarded`, () => {
      assert.deepEqual(hookDomains(configOf({ vms: { win10: { [key]: value } } })), { every: false, names: ['win10'] });
    });

    it(`defaults with ${key}: ${JSON.stringify(value)} forward every domain, as "*"`, () => {
      const domains = hookDomains(configOf({ defaults: { [key]: value }, vms: { win10: { holders: 'terminate' } } }));
      assert.deepEqual(domains, { every: true, names: [] });
      assert.equal(hookDomainsText(domains), '*\n');
    });
  }

  for (const [key, value] of Object.entries(NO_WORK_ALONE)) {
    it(`a vms section with only ${key}: ${JSON.stringify(value)} is not forwarded`, () => {
      assert.deepEqual(hookDomains(configOf({ vms: { quiet: { [key]: value } } })), { every: false, names: [] });
    });
  }

  it('a section that turns every CPU key off is not forwarded', () => {
    const config = configOf({ vms: { off: { isolateCpus: false, pin: 'none', governor: false, irqAffinity: false, housekeepingCpus: '0,8' } } });
    assert.deepEqual(hookDomains(config), { every: false, names: [] });
  });

  it('a section cannot take a VM out of "*": the daemon then finds nothing to do for it', () => {
    const config = configOf({ defaults: { governor: true }, vms: { off: { governor: false } } });
    assert.deepEqual(hookDomains(config), { every: true, names: [] });
  });

  it('adds the VMs holding CPU changes, so their release still reaches the daemon; sorted, each once', () => {
    const config = configOf({ vms: { win10: { pin: 'auto' }, 'a b': { isolateCpus: true }, plain: { holders: 'terminate' } } });
    const domains = hookDomains(config, ['win10', 'linux', 'linux']);
    assert.deepEqual(domains, { every: false, names: ['a b', 'linux', 'win10'] });
    assert.equal(hookDomainsText(domains), 'a b\nlinux\nwin10\n');
  });

  it('leaves out a name with a newline (libvirt refuses it), which would read as two names', () => {
    // config.json refuses such a section (config-validation.test.ts); a name on record is left out here.
    assert.deepEqual(hookDomains(configOf({}), ['also\n*']), { every: false, names: [] });
  });
});
