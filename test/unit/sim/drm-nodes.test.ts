import assert from 'node:assert/strict';
import type { HostIO } from '../../../src/host/host-io';
import { allocateDrmMinors } from '../../../src/sim/pci-binding';
import { snapshotHost } from '../../../src/sim/snapshot';

/** A host seen through HostIO's reads only, from a listing of directories: enough for snapshotHost. */
function listedHost(dirs: Record<string, string[]>, links: Record<string, string> = {}): HostIO {
  const refuse = () => {
    throw new Error('this test host is read-only');
  };
  return {
    root: '/nonexistent-test-host',
    abs: (rel) => `/nonexistent-test-host/${rel}`,
    readText: () => undefined,
    readLinkName: (rel) => links[rel],
    readLink: () => undefined,
    readBytes: () => undefined,
    list: (rel) => dirs[rel] ?? [],
    exists: (rel) => rel in dirs,
    write: refuse,
    loadModule: refuse,
    unloadModule: refuse,
  };
}

describe('DRM nodes', () => {
  const gpu = { fbdev: true, fbName: 'nouveaudrmfb', renderNode: true, removesFirmwareFb: true };
  const displayOnly = { fbdev: true, fbName: 'bochs-drmdrmfb', renderNode: false, removesFirmwareFb: true };

  it('cards and render nodes are numbered apart, each the lowest free of its own range, as drm_minor_alloc does', () => {
    assert.deepEqual(allocateDrmMinors([], gpu), { card: 0, render: 128 });
    assert.deepEqual(allocateDrmMinors([], displayOnly), { card: 0, render: null });
    // After a display-only card0, the GPU is card1 and still renderD128.
    assert.deepEqual(allocateDrmMinors([{ card: 0, render: null }], gpu), { card: 1, render: 128 });
    // A hole left by a device that went is filled first.
    assert.deepEqual(allocateDrmMinors([{ card: 1, render: 129 }, { card: 2, render: null }], gpu), { card: 0, render: 128 });
    assert.deepEqual(allocateDrmMinors([{ card: 0, render: 128 }, { card: 2, render: 130 }], gpu), { card: 1, render: 129 });
  });

  it('snapshotHost lists the nodes in dev/dri by name with the device each belongs to, apart from udev\'s by-path links', () => {
    const withUdev = snapshotHost(
      listedHost(
        {
          'dev/dri': ['by-path', 'card1', 'card10', 'card0', 'renderD128'],
          'dev/dri/by-path': ['pci-0000:01:00.0-card', 'pci-0000:01:00.0-render', 'pci-0000:04:00.0-card'],
        },
        { 'sys/class/drm/card0/device': '0000:04:00.0', 'sys/class/drm/card1/device': '0000:01:00.0', 'sys/class/drm/renderD128/device': '0000:01:00.0' },
      ),
    );
    assert.deepEqual(withUdev.dri, [
      { node: 'card0', device: '0000:04:00.0' },
      { node: 'card1', device: '0000:01:00.0' },
      { node: 'card10', device: null },
      { node: 'renderD128', device: '0000:01:00.0' },
    ]);
    assert.deepEqual(withUdev.drm, ['pci-0000:01:00.0-card', 'pci-0000:01:00.0-render', 'pci-0000:04:00.0-card']);
    const withoutUdev = snapshotHost(listedHost({ 'dev/dri': ['card0'] }));
    assert.deepEqual(withoutUdev.dri, [{ node: 'card0', device: null }]);
    assert.deepEqual(withoutUdev.drm, []);
    assert.deepEqual(snapshotHost(listedHost({})).dri, []);
  });
});
