// Authentication on a real member process: every route the API registers (enumerated from the
// router, so a new route is tried automatically) answers 401 without or with a wrong token and
// 403 for a weaker role, and passes with the needed role; probes stay open; raftctl's backup
// needs admin; no token reaches the member's log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createApiServer } from '../../daemon/src/api/server.js';
import { accessFor } from '../../daemon/src/api/access.js';
import { createMetrics } from '../../daemon/src/observability/metrics.js';
import type { Role } from '../../daemon/src/security/tokens.js';
import { http, waitFor, withCluster } from '../lib/cluster-harness.js';
import type { HttpResult } from '../lib/cluster-harness.js';
import { FakeMember } from '../unit/api/fake-member.js';
import { raftctl } from './security-support.js';

const TOKENS: Record<Role, string> = {
  read: 'cluster-read-0123456789',
  write: 'cluster-write-012345678',
  admin: 'cluster-admin-012345678',
};

/** The routes a member serves, read from the router of an API server built in process. */
function servedRoutes(): { method: string; path: string }[] {
  const api = createApiServer(new FakeMember(), { metrics: createMetrics('x'), logger: pino({ level: 'silent' }), maxRequestBytes: 4096, maxWatchers: 1, enableFaultInjection: true });
  return api.routes();
}

test('a real member with --auth-token-file: 401/403 on every protected route, the needed role passes', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-auth-'));
  try {
    const tokenFile = join(dir, 'tokens');
    writeFileSync(tokenFile, `${TOKENS.read} read r\n${TOKENS.write} write w\n${TOKENS.admin} admin a\n`);
    await withCluster('security-auth', { members: 1, extraArgs: ['--auth-token-file', tokenFile] }, async (c) => {
      const m = c.members[0];
      assert.ok(m);
      await waitFor('ready (an open probe)', 20_000, async () => ((await http(`${m.clientUrl}/readyz`).catch(() => null))?.status === 200 ? true : null));
      const open = new Set(['/healthz', '/readyz', '/metrics']);
      const routes = servedRoutes();
      assert.ok(routes.length >= 20);
      const tried: string[] = [];
      for (const r of routes) {
        const path = r.path.replace(':key', 'auth-key').replace(/:[a-z]+/g, 'n9');
        const needed = accessFor(r.method, path, open);
        const send = (token?: string): Promise<HttpResult> => http(`${m.clientUrl}${path}`, {
          method: r.method, timeoutMs: 5000,
          headers: { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
          ...(r.method === 'POST' || r.method === 'PUT' ? { body: '{}' } : {}),
        });
        if (needed === 'open') {
          assert.notEqual((await send()).status, 401, `${r.method} ${path}`);
          tried.push(`${r.method} ${r.path} open`);
          continue;
        }
        assert.equal((await send()).status, 401, `${r.method} ${path} without a token`);
        assert.equal((await send(`${TOKENS.admin}-not`)).status, 401, `${r.method} ${path} with a wrong token`);
        const weak: Role | null = needed === 'admin' ? 'write' : needed === 'write' ? 'read' : null;
        if (weak !== null) assert.equal((await send(TOKENS[weak])).status, 403, `${r.method} ${path} with ${weak}`);
        if (r.path !== '/v1/watch') {
          const ok = await send(TOKENS[needed]);
          assert.ok(ok.status !== 401 && ok.status !== 403, `${r.method} ${path} with ${needed}: ${ok.status} ${ok.text}`);
        }
        tried.push(`${r.method} ${r.path} ${needed}`);
      }
      process.stdout.write(`# real member, routes tried: ${tried.join('; ')}\n`);
      const file = join(dir, 'b.backup');
      const weakSave = await raftctl(['--endpoints', m.clientUrl, '--token', TOKENS.write, 'snapshot', 'save', file]);
      assert.equal(weakSave.code, 1);
      assert.match(weakSave.stderr, /403 FORBIDDEN/);
      const save = await raftctl(['--endpoints', m.clientUrl, 'snapshot', 'save', file], { RAFTKV_TOKEN: TOKENS.admin });
      assert.equal(save.code, 0, save.stderr);
      // The backup CronJob's way: --token-file on the member token file itself (first admin entry).
      const backups = join(dir, 'backups');
      mkdirSync(backups);
      const dirSave = await raftctl(['--endpoints', m.clientUrl, '--token-file', tokenFile, 'snapshot', 'save', '--dir', backups, '--keep', '2']);
      assert.equal(dirSave.code, 0, dirSave.stderr);
      assert.equal(readdirSync(backups).filter((f) => f.endsWith('.snap')).length, 1);
      const readOnlyFile = join(dir, 'reader');
      writeFileSync(readOnlyFile, `${TOKENS.read}\n`);
      const weakDir = await raftctl(['--endpoints', m.clientUrl, '--token-file', readOnlyFile, 'snapshot', 'save', '--dir', backups]);
      assert.equal(weakDir.code, 1);
      assert.match(weakDir.stderr, /403 FORBIDDEN/);
      for (const t of Object.values(TOKENS)) assert.ok(!dirSave.stdout.includes(t) && !weakDir.stderr.includes(t), 'raftctl printed a token');
      const log = readFileSync(m.logFile, 'utf8');
      for (const t of Object.values(TOKENS)) assert.ok(!log.includes(t), 'a token reached the member log');
      assert.match(log, /authentication on/);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
