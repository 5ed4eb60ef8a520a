import assert from 'node:assert/strict';
import { parseDomainNames } from '../../../src/libvirt/running-domains';

describe('parseDomainNames', () => {
  it('reads one name per line of `virsh list --name`, without the closing blank line', () => {
    assert.deepEqual(parseDomainNames('win10\ngpuhookd e2e\n\n'), ['win10', 'gpuhookd e2e']);
  });

  it('reads no names from the listing of a host running no VM', () => {
    assert.deepEqual(parseDomainNames('\n'), []);
  });
});
