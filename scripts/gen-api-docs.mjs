#!/usr/bin/env node
// Writes docs/openapi.json and docs/api.md from the OpenAPI document in daemon/src/api/openapi.ts
// (compiled: run `make build` first). `--check` writes nothing and exits 1 when either is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { openApiDocument } = await import(join(root, 'dist/daemon/src/api/openapi.js'));
const { renderApiMarkdown } = await import(join(root, 'dist/daemon/src/api/openapi-markdown.js'));
const doc = openApiDocument();
const files = {
  'docs/openapi.json': `${JSON.stringify(doc, null, 2)}\n`,
  'docs/api.md': renderApiMarkdown(doc),
};
const check = process.argv.includes('--check');
let stale = 0;
for (const [rel, text] of Object.entries(files)) {
  const path = join(root, rel);
  let old = '';
  try { old = readFileSync(path, 'utf8'); } catch { /* absent */ }
  if (old === text) continue;
  if (check) {
    process.stderr.write(`${rel} is out of date: run node scripts/gen-api-docs.mjs\n`);
    stale++;
  } else {
    writeFileSync(path, text);
    process.stdout.write(`wrote ${rel}\n`);
  }
}
process.exit(stale > 0 ? 1 : 0);
