// /dev/vfio/<group> is what QEMU opens; it appears once the whole group is on vfio-pci. Where the
// kernel can be asked (VFIO_GROUP_GET_STATUS), it must also call the group viable: that is what
// QEMU will be told, and sysfs alone cannot show it.

import { formatMs } from '../../host/host-io';
import { vfioGroupPath } from '../device-state';
import type { StepContext, StepExecutor } from '../step-executor';
import type { StepOf } from '../step-spec';
import { waitUntil } from '../wait-until';

async function awaitNode(ctx: StepContext, s: StepOf<'wait-vfio-group'>): Promise<void> {
  const node = vfioGroupPath(s.group);
  if (!(await waitUntil(() => ctx.io.exists(node), ctx.timeouts.vfioDeviceMs, ctx.signal))) {
    throw new Error(`/${node} did not appear within ${formatMs(ctx.timeouts.vfioDeviceMs)}`);
  }
}

/** The node is there and the kernel, where it can be asked, calls the group viable (asked once: each
 *  question opens the group). */
async function checkViable(ctx: StepContext, s: StepOf<'wait-vfio-group'>): Promise<void> {
  const node = vfioGroupPath(s.group);
  if (!ctx.io.exists(node)) throw new Error(`/${node} is gone again`);
  const status = ctx.io.vfioGroupStatus?.(s.group);
  if (status?.answer === 'status' && !status.viable) {
    throw new Error(
      `the kernel reports IOMMU group ${s.group} not viable (VFIO_GROUP_GET_STATUS) although /${node} is there: ` +
        'a device of the group is bound to a host driver',
    );
  }
}

export const waitVfioGroupStep: StepExecutor<'wait-vfio-group'> = {
  describe: (s) => `wait for /dev/vfio/${s.group}`,
  do: awaitNode,
  verify: checkViable,
  // Nothing to undo: the node goes away by itself when the functions leave vfio-pci.
  async undo() {},
  async undone() {},
};
