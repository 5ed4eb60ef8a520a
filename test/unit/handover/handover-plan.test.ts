// The single-GPU handover's order and choices, as plain data: what is stopped, unbound and unloaded
// around the group detach, and what the release does, in reverse, from what was recorded.

import assert from 'node:assert/strict';
import { planHandover, planHandoverRelease, type HandoverFacts, type HandoverSettings } from '../../../src/engine/handover-plan';
import { builtinStepRegistry } from '../../../src/engine/steps/builtin-steps';
import type { StepSpec } from '../../../src/engine/step-spec';

const registry = builtinStepRegistry();
const described = (steps: StepSpec[]): string[] => steps.map((s) => registry.describe(s));

const SETTINGS: HandoverSettings = { displayManagerUnit: 'display-manager.service', endSessions: false, unloadModules: false, holders: 'refuse' };
const RUNNING = { id: 'sddm.service', loadState: 'loaded', activeState: 'active', subState: 'running' };

/** The seed host as facts: RTX 2060 on nouveau, boot VGA, fbcon on its framebuffer, efifb bound. */
function seedFacts(over: Partial<HandoverFacts> = {}): HandoverFacts {
  return {
    gpu: '0000:01:00.0',
    functions: ['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3'],
    displayUse: ['boot VGA, the only GPU on a host driver', 'Xorg (PID 845)'],
    consoleUse: ['fbcon on fb0 (nouveaudrmfb)'],
    consoleUnknown: null,
    seat: 'seat0',
    displayManager: RUNNING,
    gpuServices: [],
    nvidia: false,
    fbconConsole: '(M) frame buffer device',
    firmwareFramebuffers: [{ device: 'efi-framebuffer.0', driver: 'efi-framebuffer' }],
    vendorModules: ['nouveau'],
    driverModule: 'nouveau',
    otherDriverUsers: [],
    ...over,
  };
}

describe('single-GPU handover plan', () => {
  it('stops the display manager, checks holders, unbinds fbcon and efifb, in that order, before the group detach', () => {
    const plan = planHandover(seedFacts(), SETTINGS);
    assert.deepEqual(described(plan.before), [
      'stop display-manager.service',
      'check that no process holds 0000:01:00.0',
      'unbind vtconsole "(M) frame buffer device"',
      'unbind efi-framebuffer.0 from efi-framebuffer',
    ]);
    assert.deepEqual(plan.after, []);
    assert.deepEqual(plan.before[1], { kind: 'check-holders', devices: seedFacts().functions, nvidia: false, policy: 'refuse', seat: 'seat0' });
  });

  it('ends the sessions on the GPU\'s seat after the display manager and before the holder check, when asked', () => {
    const plan = planHandover(seedFacts({ seat: 'seat1' }), { ...SETTINGS, endSessions: true });
    assert.deepEqual(plan.before.slice(0, 3).map((s) => s.kind), ['stop-unit', 'end-sessions', 'check-holders']);
    assert.deepEqual(plan.before[1], { kind: 'end-sessions', seat: 'seat1' });
  });

  it('carries the holders policy into the check', () => {
    const plan = planHandover(seedFacts(), { ...SETTINGS, holders: 'terminate' });
    assert.deepEqual(plan.before.find((s) => s.kind === 'check-holders'), { kind: 'check-holders', devices: seedFacts().functions, nvidia: false, policy: 'terminate', seat: 'seat0' });
  });

  it('stops the configured unit by the name it was given', () => {
    const plan = planHandover(seedFacts(), { ...SETTINGS, displayManagerUnit: 'gdm.service' });
    assert.deepEqual(plan.before[0], { kind: 'stop-unit', unit: 'gdm.service' });
  });

  for (const [why, dm] of [
    ['inactive', { ...RUNNING, activeState: 'inactive', subState: 'dead' }],
    ['not installed', { id: 'display-manager.service', loadState: 'not-found', activeState: 'inactive', subState: 'dead' }],
  ] as const) {
    it(`does not stop a display manager that is ${why}, and says so`, () => {
      const plan = planHandover(seedFacts({ displayManager: dm }), SETTINGS);
      assert.equal(plan.before.some((s) => s.kind === 'stop-unit'), false);
      assert.deepEqual(plan.notes, [`display-manager.service is ${why}: no display manager to stop`]);
      assert.equal(plan.before[0].kind, 'check-holders');
    });
  }

  it('stops nvidia-persistenced and nvidia-powerd when they run, after the display manager', () => {
    const services = [
      { id: 'nvidia-persistenced.service', loadState: 'loaded', activeState: 'active', subState: 'running' },
      { id: 'nvidia-powerd.service', loadState: 'loaded', activeState: 'inactive', subState: 'dead' },
    ];
    const plan = planHandover(seedFacts({ gpuServices: services, nvidia: true }), SETTINGS);
    assert.deepEqual(described(plan.before.slice(0, 2)), ['stop display-manager.service', 'stop nvidia-persistenced.service']);
    assert.equal((plan.before[2] as { nvidia: boolean }).nvidia, true);
  });

  it('leaves consoles and the firmware framebuffer alone when they are not on this GPU', () => {
    const plan = planHandover(seedFacts({ fbconConsole: null, firmwareFramebuffers: [] }), SETTINGS);
    assert.deepEqual(plan.before.map((s) => s.kind), ['stop-unit', 'check-holders']);
  });

  it('hands over only the console when fbcon draws on this GPU and no process does: the display manager keeps running', () => {
    const plan = planHandover(seedFacts({ displayUse: [], displayManager: null, firmwareFramebuffers: [] }), SETTINGS);
    assert.deepEqual(described(plan.before), ['unbind vtconsole "(M) frame buffer device"']);
    assert.deepEqual(plan.notes, ['fbcon on fb0 (nouveaudrmfb) but no process draws on 0000:01:00.0: the display manager keeps running, only the console moves']);
  });

  it('says so when the kernel could not tell where fbcon draws, and unbinds it as if on this GPU', () => {
    const plan = planHandover(seedFacts({ displayUse: [], displayManager: null, firmwareFramebuffers: [], consoleUnknown: 'not allowed to open the framebuffer device (EACCES: gpu-hookd must run as root)' }), SETTINGS);
    assert.deepEqual(described(plan.before), ['unbind vtconsole "(M) frame buffer device"']);
    assert.match(plan.notes[1], /^the kernel could not say which framebuffer fbcon draws on \(not allowed .*\), so fbcon is unbound as if on 0000:01:00.0$/);
  });

  it('changes nothing around a GPU the host does not display on, unless modules are to be unloaded', () => {
    const secondary = seedFacts({ displayUse: [], consoleUse: [], displayManager: null, fbconConsole: null, firmwareFramebuffers: [] });
    assert.deepEqual(planHandover(secondary, SETTINGS), { before: [], after: [], notes: [] });
    const unloading = planHandover(secondary, { ...SETTINGS, unloadModules: true });
    assert.deepEqual(unloading, { before: [], after: [{ kind: 'unload-modules', modules: ['nouveau'] }], notes: [] });
  });

  it('unloads the nvidia stack in dependency order: the stacked modules before the group detach, nvidia itself after', () => {
    const plan = planHandover(
      seedFacts({ nvidia: true, vendorModules: ['nvidia_drm', 'nvidia_modeset', 'nvidia_uvm', 'nvidia'], driverModule: 'nvidia' }),
      { ...SETTINGS, unloadModules: true },
    );
    assert.deepEqual(plan.before[plan.before.length - 1], { kind: 'unload-modules', modules: ['nvidia_drm', 'nvidia_modeset', 'nvidia_uvm'] });
    assert.deepEqual(plan.after, [{ kind: 'unload-modules', modules: ['nvidia'] }]);
  });

  it('keeps the stack loaded when another device uses the driver, and says which', () => {
    const plan = planHandover(seedFacts({ otherDriverUsers: ['0000:02:00.0'] }), { ...SETTINGS, unloadModules: true });
    assert.equal([...plan.before, ...plan.after].some((s) => s.kind === 'unload-modules'), false);
    assert.deepEqual(plan.notes, ['nouveau stay loaded: 0000:02:00.0 uses the driver too']);
  });
});

describe('single-GPU handover release', () => {
  it('undoes exactly what the handover did, in reverse, with vtconsoles looked up by name again', () => {
    const plan = planHandover(seedFacts(), { ...SETTINGS, endSessions: true, unloadModules: true });
    const release = planHandoverRelease([...plan.before, ...plan.after]);
    assert.deepEqual(described(release), [
      'load kernel module nouveau',
      'bind efi-framebuffer.0 to efi-framebuffer',
      'bind vtconsole "(M) frame buffer device"',
      'start display-manager.service',
    ]);
  });

  it('starts nvidia\'s daemons before the display manager and loads the stack bottom-up', () => {
    const handover: StepSpec[] = [
      { kind: 'stop-unit', unit: 'display-manager.service' },
      { kind: 'stop-unit', unit: 'nvidia-persistenced.service' },
      { kind: 'unload-modules', modules: ['nvidia_drm', 'nvidia_modeset', 'nvidia_uvm'] },
      { kind: 'unload-modules', modules: ['nvidia'] },
    ];
    assert.deepEqual(described(planHandoverRelease(handover)), [
      'load kernel module nvidia',
      'load kernel modules nvidia_uvm, nvidia_modeset, nvidia_drm',
      'start nvidia-persistenced.service',
      'start display-manager.service',
    ]);
  });

  it('gives nothing back for a detach without a handover', () => {
    assert.deepEqual(planHandoverRelease([]), []);
  });
});
