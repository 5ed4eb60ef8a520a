import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderConfigDocs } from '../../../src/daemon/config-docs';
import { CONFIG_SCHEMA, isSetting } from '../../../src/daemon/config-schema';

const DOCS = path.resolve(__dirname, '../../../../docs/config.md');

describe('docs/config.md', () => {
  it('is what the schema generates (run `npm run docs:config` after changing the schema)', () => {
    assert.equal(fs.readFileSync(DOCS, 'utf8'), renderConfigDocs());
  });

  it('documents every setting with its doc string', () => {
    const docs = renderConfigDocs();
    const visit = (node: object, prefix: string): void => {
      for (const [name, child] of Object.entries(node)) {
        if (!isSetting(child)) {
          visit(child as object, `${prefix}${name}.`);
          continue;
        }
        assert.ok(child.doc.length > 20, `${prefix}${name} has no real doc string`);
        assert.ok(docs.includes(`### \`${prefix}${name}\`\n\n${child.doc}\n`), `${prefix}${name} is not documented`);
      }
    };
    visit(CONFIG_SCHEMA, '');
    assert.ok(docs.includes('### `vms`'));
  });
});
