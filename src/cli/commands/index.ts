// Every verb of gpu-hookctl, in the order `gpu-hookctl --help` lists them. A new verb is a file in
// this folder and one line here.

import type { Command } from '../command';
import { attachCommand } from './attach';
import { cpuPlanCommand } from './cpu-plan';
import { detachCommand } from './detach';
import { doctorCommand } from './doctor';
import { listCommand } from './list';
import { monitorCommand } from './monitor';
import { statusCommand } from './status';

export const COMMANDS: readonly Command[] = [listCommand, statusCommand, monitorCommand, detachCommand, attachCommand, doctorCommand, cpuPlanCommand];
