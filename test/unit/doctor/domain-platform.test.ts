import assert from 'node:assert/strict';
import { readDomainPlatform } from '../../../src/doctor/domain-platform';

describe('doctor: the domain\'s platform', () => {
  it('reads machine, firmware, CPU mode and the hypervisor hiding of the seed guide\'s XML', () => {
    const p = readDomainPlatform(`<domain type='kvm'><name>win10</name>
      <os><type arch='x86_64' machine='pc-q35-8.1'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/edk2/x64/OVMF_CODE.fd</loader></os>
      <features><hyperv mode='custom'><vendor_id state='on' value='randomid'/></hyperv><kvm><hidden state='on'/></kvm><ioapic driver='kvm'/></features>
      <cpu mode='host-passthrough' check='none'/></domain>`);
    assert.deepEqual(p, { machine: 'pc-q35-8.1', uefi: true, cpuMode: 'host-passthrough', hypervVendorId: 'randomid', kvmHidden: true, ioapicDriver: 'kvm' });
  });

  it('firmware=efi counts as UEFI; absent elements read as absent', () => {
    const p = readDomainPlatform(`<domain><name>a</name><os firmware='efi'><type>hvm</type></os></domain>`);
    assert.deepEqual(p, { machine: '', uefi: true, cpuMode: '', hypervVendorId: null, kvmHidden: false, ioapicDriver: '' });
    const off = readDomainPlatform(`<domain><name>a</name><features><hyperv><vendor_id state='off' value='x'/></hyperv><kvm><hidden state='off'/></kvm></features></domain>`);
    assert.equal(off.hypervVendorId, null);
    assert.equal(off.kvmHidden, false);
    assert.equal(off.uefi, false);
  });
});
