// gpu-hookctl detach ADDRESS: see gpu-toggle.ts.

import { toggleCommand } from '../gpu-toggle';

export const detachCommand = toggleCommand('detach');
