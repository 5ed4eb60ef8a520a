// One org.gpuhookd1.Gpu object per GPU: read-only properties mirroring the service's view, and a
// single refresh() that emits PropertiesChanged for exactly the properties that changed.

import * as dbus from 'dbus-next';
import { contractInterface, dbusNextMembers, GPU_IFACE } from './contract';
import type { GpuView } from '../daemon/gpu-service';

type PropValues = Record<string, unknown>;

function toProps(v: GpuView): PropValues {
  return {
    Address: v.address,
    Name: v.name,
    IommuGroup: v.iommuGroup,
    Functions: v.functions,
    Drivers: v.drivers,
    HostDrivers: v.hostDrivers,
    Leftovers: v.leftovers,
    Mode: v.mode,
    Owner: v.owner,
    LastError: v.lastError,
    BootVga: v.bootVga,
    ResetMethods: v.resetMethods,
  };
}

export class GpuInterface extends dbus.interface.Interface {
  private props: PropValues;

  constructor(private readonly read: () => GpuView) {
    super(GPU_IFACE);
    this.props = toProps(read());
  }

  /** Re-reads the view; announces changed properties in one PropertiesChanged signal. */
  refresh(): void {
    const next = toProps(this.read());
    const changed: PropValues = {};
    for (const [k, v] of Object.entries(next)) {
      if (JSON.stringify(v) !== JSON.stringify(this.props[k])) changed[k] = v;
    }
    this.props = next;
    if (Object.keys(changed).length > 0) dbus.interface.Interface.emitPropertiesChanged(this, changed, []);
  }

  get Address(): unknown { return this.props.Address; }
  get Name(): unknown { return this.props.Name; }
  get IommuGroup(): unknown { return this.props.IommuGroup; }
  get Functions(): unknown { return this.props.Functions; }
  get Drivers(): unknown { return this.props.Drivers; }
  get HostDrivers(): unknown { return this.props.HostDrivers; }
  get Leftovers(): unknown { return this.props.Leftovers; }
  get Mode(): unknown { return this.props.Mode; }
  get Owner(): unknown { return this.props.Owner; }
  get LastError(): unknown { return this.props.LastError; }
  get BootVga(): unknown { return this.props.BootVga; }
  get ResetMethods(): unknown { return this.props.ResetMethods; }
}

GpuInterface.configureMembers(dbusNextMembers(contractInterface(GPU_IFACE)));
