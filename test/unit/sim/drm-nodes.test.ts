import assert from 'node:assert/strict';
import type { HostIO } from '../../../src/host/host-io';
import { drmNodeNames } from '../../../src/sim/pci-binding';
import { snapshotHost } from '../../../src/sim/snapshot';

/** A host seen through HostIO's reads only, from a listing of directories: enough for snapshotHost. */
function listedHost(dirs: Record<string, string[]>): HostIO {
  const refuse = () => {
    throw new Error('this test host is read-only');
  };
  return {
    root: '/nonexistent-test-host',
    abs: (rel) => `/nonexistent-test-host/${rel}`,
    readText: () => undefined,
    readLinkName: () => undefined,
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
  it('a driver with render nodes gets cardN and renderD(128+N); a display-only driver gets cardN alone', () => {
    assert.deepEqual(drmNodeNames(1, { fbdev: true, fbName: 'nouveaudrmfb', renderNode: true, removesFirmwareFb: true }), { card: 'card1', render: 'renderD129' });
    assert.deepEqual(drmNodeNames(0, { fbdev: true, fbName: 'bochs-drmdrmfb', renderNode: false, removesFirmwareFb: true }), { card: 'card0', render: null });
  });

  it('snapshotHost lists the nodes in dev/dri by name, apart from udev\'s by-path links', () => {
    const withUdev = snapshotHost(
      listedHost({
        'dev/dri': ['by-path', 'card1', 'card0', 'renderD128'],
        'dev/dri/by-path': ['pci-0000:01:00.0-card', 'pci-0000:01:00.0-render', 'pci-0000:04:00.0-card'],
      }),
    );
    assert.deepEqual(withUdev.dri, ['card0', 'card1', 'renderD128']);
    assert.deepEqual(withUdev.drm, ['pci-0000:01:00.0-card', 'pci-0000:01:00.0-render', 'pci-0000:04:00.0-card']);
    const withoutUdev = snapshotHost(listedHost({ 'dev/dri': ['card0'] }));
    assert.deepEqual(withoutUdev.dri, ['card0']);
    assert.deepEqual(withoutUdev.drm, []);
    assert.deepEqual(snapshotHost(listedHost({})).dri, []);
  });
});
