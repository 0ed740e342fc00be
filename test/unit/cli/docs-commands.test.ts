// Every raftctl command line shown in the repository's markdown (code blocks, and inline commands
// that name their endpoints) is one raftctl accepts: a renamed flag or command fails here
// instead of in a user's terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, parseArgs } from '../../../daemon/src/cli/args.js';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

/** `raftctl ...` command lines of a markdown text: indented code lines, and inline code with --endpoints. */
export function raftctlLines(markdown: string): string[] {
  const out: string[] = [];
  for (const line of markdown.split('\n')) {
    const code = /^ {4}(?:\$ )?(?:bin\/)?(raftctl .*)$/.exec(line);
    if (code) out.push(code[1] as string);
    for (const m of line.matchAll(/`(?:bin\/)?(raftctl --endpoints [^`]*)`/g)) out.push(m[1] as string);
  }
  // Drop trailing comments; skip forms with placeholders raftctl cannot parse ([optional] parts, ...).
  return out.map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => !/[[\]]|\.\.\./.test(l));
}

/** Shell words of a documented line, with $VARS, <placeholders> and the number N given sample values. */
function words(line: string): string[] {
  return line.replace(/\$\w+|\$\{\w+\}/g, 'sample-token-value').replace(/<[^>]+>/g, 'x').split(/\s+/).slice(1).map((w) => (w === 'N' ? '3' : w));
}

test('the extractor finds code-block and inline commands and skips prose fragments', () => {
  const md = '    raftctl get k   # a comment\n    bin/raftctl status\nsee `raftctl --endpoints URL snapshot save f` and `raftctl members add`\n    raftctl put [--x] y\n';
  assert.deepEqual(raftctlLines(md), ['raftctl get k', 'raftctl status', 'raftctl --endpoints URL snapshot save f']);
});

test('a wrong documented command is caught (the check can fail)', () => {
  assert.throws(() => parseArgs(words('raftctl status --json'), {}), UsageError);
});

/** Every markdown file of the repository (not dependencies or build output). */
function markdownFiles(root: string, dir = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (['node_modules', 'dist', '.git', '.build', '.cache', 'test-output'].includes(e.name)) continue;
    const rel = join(dir, e.name);
    if (e.isDirectory()) out.push(...markdownFiles(root, rel));
    else if (e.name.endsWith('.md')) out.push(rel);
  }
  return out;
}

test('every raftctl command in the repository\'s markdown (README, docs/, subsystem READMEs) parses', () => {
  const root = repoRoot();
  const files = markdownFiles(root);
  assert.ok(files.includes('README.md') && files.includes(join('docs', 'security.md')));
  const checked: string[] = [];
  for (const f of files) {
    for (const l of raftctlLines(readFileSync(join(root, f), 'utf8'))) {
      assert.doesNotThrow(() => parseArgs(words(l), {}), `${f}: ${l}`);
      checked.push(l);
    }
  }
  assert.ok(checked.length >= 15, `found only ${checked.length} commands: ${checked.join(' | ')}`);
});
