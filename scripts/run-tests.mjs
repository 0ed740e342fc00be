#!/usr/bin/env node
// Runs node:test over every *.test.js under the given folders (Node 20's --test has no globs).
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const roots = args.filter((a) => !a.startsWith('--'));
if (roots.length === 0) {
  console.error('usage: run-tests.mjs [--test-concurrency=N] DIR|FILE...');
  process.exit(2);
}
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
};
for (const r of roots) {
  if (!existsSync(r)) continue;
  if (statSync(r).isDirectory()) walk(r);
  else files.push(r);
}
if (files.length === 0) {
  console.error(`no test files under ${roots.join(', ')}`);
  process.exit(1);
}
const res = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-reporter=spec', ...flags, ...files], { stdio: 'inherit' });
process.exit(res.status ?? 1);
