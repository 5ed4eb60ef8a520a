// docs/config.md, generated from the schema so the reference cannot drift from the code:
// `npm run docs:config` writes it, and a unit test fails when the committed file differs.

import * as fs from 'node:fs';
import { CONFIG_SCHEMA, DEFAULT_CONFIG_PATH, OVERRIDES, VMS_DOC, isSetting, type Setting } from './config-schema';

export function renderConfigDocs(): string {
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/daemon/config-schema.ts by `npm run docs:config`. Do not edit by hand. -->',
    '',
    `gpu-hookd reads \`${DEFAULT_CONFIG_PATH}\` (another file: \`--config FILE\`), one JSON object. Every key is`,
    'optional; a missing file means every default. The file is watched: an edit that validates takes effect at',
    'once, and an invalid one is logged with the key and the reason while the last good config stays in force.',
    'An example with every key: `packaging/config.example.json`.',
    '',
    'Per-VM settings resolve as: the domain\'s `<metadata>` (namespace `https://gpuhookd.org/xmlns/vm/1`,',
    'attributes named like the keys, booleans as `yes`/`no`) over the VM\'s `vms.<name>` section over `defaults`.',
    '',
    '## Overrides',
    '',
    'The environment overrides the file, and the command line overrides both. A relative directory is taken',
    'from the current directory.',
    '',
    '| Setting | Environment | Command line |',
    '| --- | --- | --- |',
    ...OVERRIDES.map((o) => `| \`${o.key}\` | \`${o.env}\` | \`${o.flag}\` |`),
    '',
    '## Settings',
  ];
  for (const [key, setting] of settingsOf(CONFIG_SCHEMA, '')) {
    const override = OVERRIDES.find((o) => o.key === key);
    lines.push('', `### \`${key}\``, '', setting.doc, '');
    lines.push(`- Default: \`${JSON.stringify(setting.default)}\``);
    lines.push(`- Accepts: ${setting.accepts}`);
    if (override) lines.push(`- Overridden by: \`${override.env}\`, \`${override.flag}\``);
  }
  lines.push('', '### `vms`', '', VMS_DOC, '', '- Default: `{}`', '');
  lines.push('```json', JSON.stringify({ vms: { win10: { holders: 'terminate', pin: 'auto' } } }, null, 2), '```', '');
  return lines.join('\n');
}

function* settingsOf(node: object, prefix: string): Generator<[string, Setting<unknown>]> {
  for (const [name, child] of Object.entries(node)) {
    if (isSetting(child)) yield [prefix + name, child];
    else yield* settingsOf(child as object, `${prefix}${name}.`);
  }
}

if (require.main === module) {
  const target = process.argv[2] ?? 'docs/config.md';
  fs.writeFileSync(target, renderConfigDocs());
  console.log(`wrote ${target}`);
}
