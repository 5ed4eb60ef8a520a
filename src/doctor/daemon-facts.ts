// Is gpu-hookd on the bus? Asked of the bus itself first (NameHasOwner), so the doctor never
// starts the daemon through D-Bus activation; only a running daemon is asked for its status.

import { DaemonClient } from '../cli/daemon-client';
import type { DaemonFacts } from './install-checks';

export async function readDaemonFacts(busAddress: string | undefined): Promise<DaemonFacts> {
  const bus = busAddress ? `the D-Bus bus ${busAddress}` : 'the system bus';
  const client = DaemonClient.connect(busAddress);
  try {
    const name = await client.nameState();
    if (!name.owned) return { state: name.activatable ? 'activatable' : 'stopped', bus };
    const status = await client.status();
    return { state: 'running', bus, version: status.version, status: status.status };
  } catch (e) {
    return { state: 'unreachable', bus, error: (e as Error).message };
  } finally {
    client.close();
  }
}
