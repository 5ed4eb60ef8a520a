// Finding scenarios: built-ins are TypeScript modules in src/sim/scenarios/ (compiled with the rest,
// so they ship in dist/ with no copy step, and type-checked against ScenarioFile); anything else is
// a JSON file given by path. Both go through the same validation.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Scenario } from './scenario';
import { parseScenario, ScenarioError } from './scenario-parse';

const BUILTIN_DIR = path.join(__dirname, 'scenarios');

export function builtinScenarioNames(): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(BUILTIN_DIR);
  } catch {
    return [];
  }
  return entries.filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
}

/** A built-in scenario by name ("seed"), or a JSON scenario file by path. */
export function loadScenario(nameOrPath: string): Scenario {
  if (builtinScenarioNames().includes(nameOrPath)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.join(BUILTIN_DIR, `${nameOrPath}.js`)) as { default: unknown };
    return parseScenario(mod.default, nameOrPath);
  }
  const looksLikeFile = nameOrPath.includes('/') || nameOrPath.endsWith('.json');
  if (!looksLikeFile) {
    throw new Error(`no built-in scenario named ${JSON.stringify(nameOrPath)}: choose one of ${builtinScenarioNames().join(', ')} or give a path to a .json file`);
  }
  let text: string;
  try {
    text = fs.readFileSync(nameOrPath, 'utf8');
  } catch (e) {
    throw new Error(`cannot read scenario file ${nameOrPath}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(path.basename(nameOrPath), 'the file', `is not valid JSON (${(e as Error).message})`);
  }
  return parseScenario(raw, path.basename(nameOrPath));
}
