// Test hooks never reach the production binary: bin/raftkv ignores RAFTKV_UNSAFE_PLANTED_BUG
// (the variable older builds read), and only the test entry point can plant a bug, which the
// same probe does detect (so the check below can fail).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../lib/free-port.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** Starts a one-member daemon with `entry`, waits until it serves, returns its log and stops it. */
async function startupLog(entry: readonly string[], env: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-planted-'));
  const [client, peer] = [await freePort(), await freePort()];
  const p = spawn(process.execPath, [...entry, '--name', 'n1', '--data-dir', join(dir, 'data'), '--listen-client', `http://127.0.0.1:${client}`,
    '--listen-peer', `127.0.0.1:${peer}`, '--initial-cluster', `n1=127.0.0.1:${peer}`, '--initial-cluster-state', 'new'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  p.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  try {
    const until = Date.now() + 20_000;
    while (!out.includes('"serving"') && p.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.ok(out.includes('"serving"'), `the member did not start: ${out}`);
    return out;
  } finally {
    p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the production raftkv ignores RAFTKV_UNSAFE_PLANTED_BUG', async () => {
  const log = await startupLog([join(repoRoot, 'bin', 'raftkv')], { RAFTKV_UNSAFE_PLANTED_BUG: 'stale-read' });
  assert.doesNotMatch(log, /planted/i);
});

test('the test entry point plants the bug, and the startup log says so (the probe above can see one)', async () => {
  const log = await startupLog([join(repoRoot, 'dist', 'test', 'chaos', 'planted-raftkv.js'), '--planted-bug', 'stale-read'], {});
  assert.match(log, /UNSAFE: a deliberate bug is planted/);
});

test('no product source reads a planted-bug variable from the environment', () => {
  const hits: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && /PLANTED_BUG|plantedBug\s*=\s*process\.env/.test(readFileSync(p, 'utf8'))) hits.push(p);
    }
  };
  walk(join(repoRoot, 'daemon', 'src'));
  walk(join(repoRoot, 'operator', 'src'));
  assert.deepEqual(hits, []);
});
