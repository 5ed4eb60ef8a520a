import assert from 'node:assert/strict';
import { FBCON_NAME, ScenarioFile } from '../../../src/sim/scenario';
import { parseScenario, ScenarioError } from '../../../src/sim/scenario-parse';
import { builtinScenarioNames, loadScenario } from '../../../src/sim/scenarios';

function minimal(): ScenarioFile {
  return {
    name: 'tiny',
    description: 'one GPU',
    cpu: { vendor: 'intel', model: 'Test CPU', coresPerSocket: 2 },
    modules: [{ name: 'nouveau', drivers: [{ name: 'nouveau', ids: ['10de:*:03'], drm: { fbdev: true } }] }],
    devices: [
      { address: '0000:00:01.0', vendor: '8086', device: '1901', class: '060400', iommuGroup: 1, driver: 'pcieport' },
      { address: '0000:01:00.0', vendor: '10de', device: '1f08', class: '030000', parent: '0000:00:01.0', iommuGroup: 2, driver: 'nouveau', bootVga: true },
    ],
    consoles: { vtconsoles: ['(S) dummy device', FBCON_NAME] },
  };
}

/** Applies `edit` to a fresh minimal scenario and returns the error sentence parsing gives. */
function problemWith(edit: (s: Record<string, unknown> & ScenarioFile) => void): string {
  const s = minimal() as Record<string, unknown> & ScenarioFile;
  edit(s);
  try {
    parseScenario(JSON.parse(JSON.stringify(s)), 'tiny.json');
  } catch (e) {
    assert.ok(e instanceof ScenarioError, `expected a ScenarioError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('the scenario was accepted');
}

describe('scenario files', () => {
  it('accepts a minimal scenario and fills the defaults', () => {
    const s = parseScenario(minimal(), 'tiny.json');
    assert.equal(s.iommuGroupType, 'DMA-FQ');
    assert.equal(s.devices[1].subsystemVendor, '0000');
    assert.equal(s.devices[1].parent, '0000:00:01.0');
    assert.equal(s.fbcon, true);
    assert.ok(s.modules.some((m) => m.drivers.some((d) => d.name === 'vfio-pci')), 'vfio-pci is always available');
    assert.ok(s.modules.some((m) => m.builtin && m.drivers.some((d) => d.name === 'pcieport')));
  });

  it('every built-in scenario validates', () => {
    const names = builtinScenarioNames();
    for (const required of ['seed', 'amd', 'two-gpu', 'server-8gpu', 'shared-group']) assert.ok(names.includes(required), required);
    for (const name of names) assert.equal(loadScenario(name).name, name);
  });

  it('the seed is the RTX 2060 host the issue describes', () => {
    const seed = loadScenario('seed');
    const group = seed.devices.filter((d) => d.iommuGroup === seed.devices.find((x) => x.address === '0000:01:00.0')?.iommuGroup);
    assert.deepEqual(
      group.map((d) => [d.address, `${d.vendor}:${d.device}`, d.driver]),
      [
        ['0000:01:00.0', '10de:1f08', 'nouveau'],
        ['0000:01:00.1', '10de:10f9', 'snd_hda_intel'],
        ['0000:01:00.2', '10de:1ada', 'xhci_hcd'],
        ['0000:01:00.3', '10de:1adb', 'nvidia-gpu'],
      ],
    );
    const bridge = seed.devices.find((d) => d.address === '0000:00:01.0');
    assert.ok(bridge && !group.includes(bridge), 'the bridge has a group of its own');
    assert.equal(seed.modules.find((m) => m.drivers.some((d) => d.name === 'nvidia-gpu'))?.name, 'i2c_nvidia_gpu');
    assert.equal(seed.cpu.coresPerSocket * seed.cpu.threadsPerCore, 16);
    assert.deepEqual(seed.firmwareFramebuffer, { kind: 'efi-framebuffer', state: 'removed' }, 'nouveau removed efifb at boot');
    assert.ok(seed.displayManager);
  });

  it('a DRM driver has render nodes unless it says renderNode: false', () => {
    const drmOf = (s: ReturnType<typeof parseScenario>, driver: string) => s.modules.flatMap((m) => m.drivers).find((d) => d.name === driver)?.drm;
    assert.deepEqual(drmOf(parseScenario(minimal(), 'tiny.json'), 'nouveau'), { fbdev: true, fbName: 'nouveaudrmfb', renderNode: true, removesFirmwareFb: true });
    const displayOnly = minimal();
    displayOnly.modules![0].drivers![0].drm = { renderNode: false };
    assert.equal(drmOf(parseScenario(displayOnly, 'tiny.json'), 'nouveau')?.renderNode, false);
  });

  it('the built-in scenarios give GPU drivers render nodes and display-only ones (bochs-drm, ast) none, as the lab\'s kernel does', () => {
    const renderNodes = (name: string) =>
      Object.fromEntries(loadScenario(name).modules.flatMap((m) => m.drivers).filter((d) => d.drm).map((d) => [d.name, d.drm?.renderNode]));
    assert.deepEqual(renderNodes('seed'), { nouveau: true });
    assert.deepEqual(renderNodes('amd'), { amdgpu: true });
    assert.deepEqual(renderNodes('two-gpu'), { i915: true, nvidia: true });
    assert.deepEqual(renderNodes('server-8gpu'), { ast: false });
    assert.deepEqual(renderNodes('lab-seabios-bochs'), { 'bochs-drm': false });
    assert.deepEqual(renderNodes('lab-virtio-vga'), { 'virtio-pci': true });
  });

  it('a DRM driver removes the firmware framebuffer unless it says so, or has no fbdev (the proprietary nvidia driver)', () => {
    const removes = (drm: { fbdev?: boolean; removesFirmwareFb?: boolean }) => {
      const s = minimal();
      s.modules![0].drivers![0].drm = drm;
      if (drm.fbdev === false) s.consoles = { vtconsoles: ['(S) dummy device'] };
      return parseScenario(s, 'tiny.json').modules[0].drivers[0].drm?.removesFirmwareFb;
    };
    assert.equal(removes({}), true);
    assert.equal(removes({ fbdev: false }), false);
    assert.equal(removes({ removesFirmwareFb: false }), false);
  });

  it('accepts efifb still bound next to a boot VGA driver that leaves it alone, and a removed one next to any', () => {
    const nvidia = minimal();
    nvidia.modules![0].drivers![0].drm = { fbdev: false };
    nvidia.firmwareFramebuffer = { kind: 'efi-framebuffer', state: 'bound-with-fb' };
    assert.equal(parseScenario(nvidia, 'tiny.json').firmwareFramebuffer.state, 'bound-with-fb');
    const nouveau = minimal();
    nouveau.firmwareFramebuffer = { kind: 'efi-framebuffer', state: 'removed' };
    assert.equal(parseScenario(nouveau, 'tiny.json').firmwareFramebuffer.state, 'removed');
  });

  const cases: [string, (s: Record<string, unknown> & ScenarioFile) => void, string][] = [
    ['a malformed address', (s) => (s.devices[1].address = '01:00.0'), 'scenario tiny.json: devices[1].address must be a full lower-case PCI address like 0000:01:00.0, got "01:00.0"'],
    ['a class that is not hex', (s) => (s.devices[0].class = '06040x'), 'scenario tiny.json: devices[0].class must be 6 hex digits, got "06040x"'],
    ['an unknown field', (s) => (s.gpus = 2), 'scenario tiny.json: gpus is not a known field'],
    ['a driver nobody provides', (s) => (s.devices[1].driver = 'nvidia'), 'scenario tiny.json: devices[1].driver names nvidia, which no module in the scenario provides'],
    ['a parent that is not a bridge', (s) => (s.devices[0].class = '020000'), 'scenario tiny.json: devices[1].parent names 0000:00:01.0, which is not a PCI bridge (class 0604xx)'],
    ['boot VGA on audio', (s) => Object.assign(s.devices[1], { class: '040300' }), 'scenario tiny.json: devices[1].bootVga can only be true for a VGA device (class 0300xx), not class 040300'],
    ['a missing IOMMU group', (s) => delete s.devices[0].iommuGroup, 'scenario tiny.json: devices[0].iommuGroup is required while the scenario has an IOMMU'],
    ['a bad id pattern', (s) => (s.modules![0].drivers![0].ids = ['10de-1f08']), 'scenario tiny.json: modules[0].drivers[0].ids[0] must look like "10de:1f08", "10de:*" or "*:*:0403", got "10de-1f08"'],
    ['an offline cpu that does not exist', (s) => (s.cpu.offline = [9]), 'scenario tiny.json: cpu.offline[0] is cpu9, but the host has cpus 0-3'],
    ['fbcon without a framebuffer', (s) => (s.devices[1].driver = null), `scenario tiny.json: consoles.vtconsoles lists "${FBCON_NAME}" but fbcon has no framebuffer at boot`],
    ['a missing name', (s) => delete (s as Partial<ScenarioFile>).name, 'scenario tiny.json: name must be a non-empty string, got nothing'],
    ['a renderNode that is not a boolean', (s) => (s.modules![0].drivers![0].drm = { renderNode: 'yes' as unknown as boolean }), 'scenario tiny.json: modules[0].drivers[0].drm.renderNode must be true or false, got "yes"'],
    [
      'efifb still bound after nouveau took the boot VGA',
      (s) => (s.firmwareFramebuffer = { kind: 'efi-framebuffer', state: 'bound' }),
      'scenario tiny.json: firmwareFramebuffer.state is "bound", but nouveau bound to the boot VGA 0000:01:00.0 at boot, and a 6.x kernel then removes efi-framebuffer.0',
    ],
    [
      'a firmware framebuffer left after vfio-pci took the boot VGA at boot',
      (s) => Object.assign(s, { firmwareFramebuffer: { kind: 'simple-framebuffer', state: 'unbound' }, consoles: { vtconsoles: ['(S) dummy device'] } }, { devices: [s.devices[0], { ...s.devices[1], driver: 'vfio-pci' }] }),
      'scenario tiny.json: firmwareFramebuffer.state is "unbound", but vfio-pci bound to the boot VGA 0000:01:00.0 at boot, and a 6.x kernel then removes simple-framebuffer.0',
    ],
    ['a dependency that is not declared', (s) => (s.modules![0].deps = ['ttm']), 'scenario tiny.json: modules[0].deps names module "ttm", which the scenario does not declare'],
  ];
  for (const [what, edit, sentence] of cases) {
    it(`refuses ${what} in one sentence naming the field`, () => {
      const message = problemWith(edit);
      assert.ok(message.startsWith(sentence), `got: ${message}`);
      assert.equal(message.split('\n').length, 1);
    });
  }

  it('names unknown scenarios and lists the built-in ones', () => {
    assert.throws(() => loadScenario('sead'), /no built-in scenario named "sead": choose one of .*seed/);
  });
});
