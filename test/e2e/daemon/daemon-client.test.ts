// DaemonClient, gpu-hookctl's and the demo's side of the bus, in this process: status() reads each
// GPU as the daemon shows it, and a daemon that owns its name but does not answer is a Timeout that
// names the call, not a wait without end.

import assert from 'node:assert/strict';
import * as dbus from 'dbus-next';
import { DaemonCallError, DaemonClient } from '../../../src/cli/daemon-client';
import { BUS_NAME, MANAGER_IFACE, MANAGER_PATH, gpuObjectPath } from '../../../src/dbus/contract';
import { startPrivateSystemBus } from '../../support/private-bus';
import { DaemonUnderTest, SHIPPED_POLICY, printDaemonLogOnFailure } from './daemon-under-test';

const RTX = '0000:01:00.0';

describe('DaemonClient', function () {
  this.timeout(30_000);

  describe('against the running daemon', () => {
    let dut: DaemonUnderTest;
    let client: DaemonClient;

    before(async () => {
      dut = await DaemonUnderTest.start();
      client = DaemonClient.connect(dut.bus.address);
    });
    after(async () => {
      client?.close();
      await dut?.dispose();
    });
    printDaemonLogOnFailure(() => dut);

    it('status() gives the manager\'s line and each GPU with its object path, mode and drivers now', async () => {
      await dut.call('Detach', 's', [RTX]);
      const status = await client.status();
      const manager = await dut.properties(MANAGER_PATH, MANAGER_IFACE);
      assert.equal(status.version, manager.Version);
      assert.equal(status.status, manager.Status);
      const gpu = status.gpus.find((g) => g.address === RTX);
      assert.ok(gpu, `status() lists ${RTX}: ${JSON.stringify(status.gpus.map((g) => g.address))}`);
      assert.equal(gpu.path, gpuObjectPath(RTX));
      assert.equal(gpu.mode, 'vfio');
      assert.deepEqual(Object.values(gpu.drivers), gpu.functions.map(() => 'vfio-pci'));
      assert.ok(gpu.functions.includes(RTX));
      await dut.call('Attach', 's', [RTX]);
      assert.equal((await client.status()).gpus.find((g) => g.address === RTX)?.mode, 'host');
    });
  });

  it('a name owner that never answers: DaemonCallError Timeout naming the call and the time', async () => {
    const bus = await startPrivateSystemBus({ policyFiles: [SHIPPED_POLICY] });
    const silent = bus.connect();
    const client = DaemonClient.connect(bus.address);
    try {
      // Takes every call to the daemon's name and answers none.
      silent.addMethodHandler((msg: dbus.Message) => msg.interface === MANAGER_IFACE);
      assert.equal(await silent.requestName(BUS_NAME, dbus.NameFlag.DO_NOT_QUEUE), dbus.RequestNameReply.PRIMARY_OWNER);
      await assert.rejects(client.call('Detach', 's', [RTX], 300), (e: unknown) => {
        assert.ok(e instanceof DaemonCallError);
        assert.equal(e.dbusName, 'org.gpuhookd1.Error.Timeout');
        assert.equal(e.message, 'gpu-hookd did not answer Detach within 0.3 s');
        return true;
      });
    } finally {
      client.close();
      silent.disconnect();
      await bus.stop();
    }
  });
});
