// gpu-hookctl attach ADDRESS: see gpu-toggle.ts.

import { toggleCommand } from '../gpu-toggle';

export const attachCommand = toggleCommand('attach');
