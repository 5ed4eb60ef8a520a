import assert from 'node:assert/strict';
import { monitorEvent, monitorJsonLine, monitorTextLine, stateEvents, type BusSignal } from '../../../src/cli/monitor-events';

const GPU_PATH = '/org/gpuhookd1/gpu/0000_01_00_0';
const signal = (s: Partial<BusSignal>): BusSignal => ({ path: '/org/gpuhookd1', interface: 'org.gpuhookd1.Manager', member: '', body: [], ...s });
const AT = new Date(2026, 11, 8, 1, 2, 3, 45);

describe('gpu-hookctl monitor\'s events', () => {
  it('turns each signal of the daemon into one event, the GPU named by its address', () => {
    assert.deepEqual(monitorEvent(signal({ member: 'TransitionStarted', body: [GPU_PATH, 'detach', 'win10'] })), { event: 'transition-started', gpu: '0000:01:00.0', operation: 'detach', vm: 'win10' });
    assert.deepEqual(monitorEvent(signal({ member: 'StepFinished', body: [GPU_PATH, 'unbind 0000:01:00.1 from snd_hda_intel', 1234n] })), {
      event: 'step-finished',
      gpu: '0000:01:00.0',
      step: 'unbind 0000:01:00.1 from snd_hda_intel',
      durationMs: 1.234,
    });
    assert.deepEqual(monitorEvent(signal({ member: 'TransitionFinished', body: [GPU_PATH, 'attach', false, 'EBUSY'] })), { event: 'transition-finished', gpu: '0000:01:00.0', operation: 'attach', ok: false, error: 'EBUSY' });
    assert.deepEqual(monitorEvent(signal({ path: GPU_PATH, interface: 'org.freedesktop.DBus.Properties', member: 'PropertiesChanged', body: ['org.gpuhookd1.Gpu', { Mode: 'vfio', Owner: 'win10' }, []] })), {
      event: 'gpu-changed',
      gpu: '0000:01:00.0',
      changed: { Mode: 'vfio', Owner: 'win10' },
    });
    assert.deepEqual(monitorEvent(signal({ interface: 'org.freedesktop.DBus.Properties', member: 'PropertiesChanged', body: ['org.gpuhookd1.Manager', { Status: 'idle' }, []] })), { event: 'daemon-changed', changed: { Status: 'idle' } });
    const owner = (old: string, now: string): BusSignal => ({ path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'NameOwnerChanged', body: ['org.gpuhookd1', old, now] });
    assert.deepEqual(monitorEvent(owner('', ':1.5')), { event: 'daemon-started' });
    assert.deepEqual(monitorEvent(owner(':1.5', '')), { event: 'daemon-stopped' });
  });

  it('shows nothing for signals it does not know', () => {
    assert.equal(monitorEvent(signal({ member: 'SomethingNew', body: [GPU_PATH] })), undefined);
    assert.equal(monitorEvent(signal({ path: '/org/gpuhookd1/other', interface: 'org.freedesktop.DBus.Properties', member: 'PropertiesChanged', body: ['org.gpuhookd1.Gpu', {}, []] })), undefined);
    assert.equal(monitorEvent({ path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'NameOwnerChanged', body: ['org.other', '', ':1.2'] }), undefined);
  });

  it('prints one JSON object per line with the time first', () => {
    const line = monitorJsonLine({ event: 'transition-started', gpu: '0000:01:00.0', operation: 'detach', vm: '' }, AT);
    assert.equal(line, `{"time":"${AT.toISOString()}","event":"transition-started","gpu":"0000:01:00.0","operation":"detach","vm":""}\n`);
  });

  it('prints one readable line per event, with the local time and only the quotes a value needs', () => {
    const text = (e: Parameters<typeof monitorTextLine>[0]): string => monitorTextLine(e, AT);
    assert.equal(text({ event: 'transition-started', gpu: '0000:01:00.0', operation: 'detach', vm: 'win10' }), '01:02:03.045  0000:01:00.0  detach for VM win10 started\n');
    assert.equal(text({ event: 'transition-started', gpu: '0000:01:00.0', operation: 'attach', vm: '' }), '01:02:03.045  0000:01:00.0  attach by hand started\n');
    assert.equal(text({ event: 'step-finished', gpu: '0000:01:00.0', step: 'probe 0000:01:00.0 for nouveau', durationMs: 3.456 }), '01:02:03.045  0000:01:00.0  probe 0000:01:00.0 for nouveau (3.5 ms)\n');
    assert.equal(text({ event: 'transition-finished', gpu: '0000:01:00.0', operation: 'detach', ok: false, error: 'x failed' }), '01:02:03.045  0000:01:00.0  detach failed: x failed\n');
    assert.equal(
      text({ event: 'gpu-changed', gpu: '0000:01:00.0', changed: { Mode: 'vfio', Owner: '', LastError: 'a b', Drivers: { '0000:01:00.0': 'vfio-pci' } } }),
      '01:02:03.045  0000:01:00.0  Mode=vfio Owner="" LastError="a b" Drivers={"0000:01:00.0":"vfio-pci"}\n',
    );
    assert.equal(text({ event: 'daemon-stopped' }), '01:02:03.045  gpu-hookd left the bus\n');
    assert.equal(text({ event: 'daemon-absent' }), '01:02:03.045  gpu-hookd is not on the bus: waiting for it\n');
  });

  it('gives the daemon\'s state as its line and one per GPU', () => {
    const events = stateEvents({ version: '0.1.0', status: 'idle', gpus: [{ address: '0000:01:00.0', mode: 'host', owner: '', lastError: '' }] });
    assert.deepEqual(events.map((e) => monitorTextLine(e, AT)), ['01:02:03.045  gpu-hookd 0.1.0: idle\n', '01:02:03.045  0000:01:00.0  Mode=host Owner="" LastError=""\n']);
  });
});
