// Every verb of gpu-hookctl, in the order `gpu-hookctl --help` lists them. A new verb is a file in
// this folder and one line here.

import type { Command } from '../command';
import { listCommand } from './list';

export const COMMANDS: readonly Command[] = [listCommand];
