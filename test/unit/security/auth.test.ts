// Authentication and authorisation of the client API: the token file, the access table against
// the routes the server really registers (a new route cannot go unprotected), and 401/403 on
// every protected route of a real API server, with tokens never reaching the log.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ROUTE_ACCESS, accessFor, accessTableGaps } from '../../../daemon/src/api/access.js';
import type { AccessControl } from '../../../daemon/src/api/access.js';
import { TokenFile, TokenFileError, TokenTable, roleAllows } from '../../../daemon/src/security/tokens.js';
import type { Role } from '../../../daemon/src/security/tokens.js';
import { raw, startApi } from '../api/harness.js';

const TOKENS = {
  read: 'r-token-0123456789abcdef',
  write: 'w-token-0123456789abcdef',
  admin: 'a-token-0123456789abcdef',
} as const;
const TOKEN_FILE = `# raftkv tokens\n${TOKENS.read} read reader\n${TOKENS.write} write writer\n\n${TOKENS.admin} admin ops\n`;

/** A concrete path for a route template (parameters filled with harmless values). */
export function concretePath(template: string): string {
  return template.replace(':key', 'auth-test-key').replace(/:[a-z]+/g, 'n9');
}

/** The role just below `needed`, or null for `read` (then only "no token" can fail). */
function weaker(needed: Role): Role | null {
  return needed === 'admin' ? 'write' : needed === 'write' ? 'read' : null;
}

describe('token file', () => {
  test('parses tokens, roles, names, certificate CNs; comments and blank lines ignored', () => {
    const t = TokenTable.parse(`${TOKEN_FILE}cn=ops-laptop admin laptop\n`);
    assert.equal(t.size, 4);
    assert.deepEqual(t.byToken(TOKENS.write), { name: 'writer', role: 'write', via: 'token' });
    assert.equal(t.byToken('w-token-0123456789abcdeX'), null);
    assert.equal(t.byToken(''), null);
    assert.equal(t.byToken('x'.repeat(10_000)), null);
    assert.deepEqual(t.byCertificate('ops-laptop'), { name: 'laptop', role: 'admin', via: 'certificate' });
    assert.equal(t.byCertificate('someone'), null);
    assert.equal(TokenTable.parse('abcdefghijklmnopq read').byToken('abcdefghijklmnopq')?.name, 'line-1');
  });

  test('refuses bad lines, naming the line but never the token', () => {
    const cases: [string, RegExp][] = [
      ['short-token read', /line 1: a token must be 16/],
      ['abcdefghijklmnopq superuser', /line 1: role must be one of read, write, admin/],
      ['abcdefghijklmnopq', /expected '<token> <role> \[name\]'/],
      ['# only comments\n\n', /no entries/],
      ['abcdefghijklmnopq read a\nabcdefghijklmnopq write b', /line 2: the same token appears twice/],
      ['abcdefghijklmnopq read a b c', /line 1: expected/],
    ];
    for (const [text, re] of cases) {
      assert.throws(() => TokenTable.parse(text), (err: unknown) => err instanceof TokenFileError && re.test(err.message) && !err.message.includes('abcdefghijklmnopq'), text);
    }
  });

  test('roles nest: read < write < admin', () => {
    assert.ok(roleAllows('admin', 'read') && roleAllows('admin', 'write') && roleAllows('write', 'read'));
    assert.ok(!roleAllows('read', 'write') && !roleAllows('write', 'admin'));
  });

  test('the token file is re-read when it changes; a broken rewrite keeps the old tokens', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftkv-tokens-'));
    try {
      const f = join(dir, 'tokens');
      writeFileSync(f, `${TOKENS.read} read\n`);
      const logged: string[] = [];
      const log = { info: (_o: Record<string, unknown>, m: string) => logged.push(m), warn: (_o: Record<string, unknown>, m: string) => logged.push(m) };
      const tf = new TokenFile(f, log);
      assert.equal(tf.current.byToken(TOKENS.read)?.role, 'read');
      assert.equal(tf.poll(), false, 'unchanged file: nothing to do');
      writeFileSync(f, `${TOKENS.admin} admin\n`);
      assert.equal(tf.poll(), true);
      assert.equal(tf.current.byToken(TOKENS.read), null, 'the removed token no longer works');
      assert.equal(tf.current.byToken(TOKENS.admin)?.role, 'admin');
      writeFileSync(f, 'garbage\n');
      assert.equal(tf.poll(), false);
      assert.equal(tf.current.byToken(TOKENS.admin)?.role, 'admin', 'a broken file keeps the previous table');
      assert.ok(logged.some((m) => /cannot be used yet/.test(m)));
      assert.ok(!logged.join('\n').includes(TOKENS.admin));
      tf.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('access table', () => {
  test('covers exactly the routes the API server registers', async () => {
    const t = await startApi({ enableFaultInjection: true });
    try {
      const routes = t.api.routes();
      assert.ok(routes.length >= 20, `only ${routes.length} routes found`);
      assert.deepEqual(accessTableGaps(routes), { uncovered: [], stale: [] });
    } finally {
      await t.close();
    }
  });

  test('the gap check catches a route missing from the table and a stale entry (known-bad case)', () => {
    const served = ROUTE_ACCESS.map((r) => ({ method: r.method, path: r.path }));
    const gaps = accessTableGaps([...served.filter((r) => r.path !== '/v1/txn'), { method: 'GET', path: '/v1/debug/pprof' }]);
    assert.deepEqual(gaps, { uncovered: ['GET /v1/debug/pprof'], stale: ['POST /v1/txn'] });
  });

  test('unknown paths are admin-only under /v1/ and for writes; static GETs stay open; probes follow --auth-open-paths', () => {
    const open = new Set(['/healthz', '/readyz', '/metrics']);
    assert.equal(accessFor('GET', '/v1/nope', open), 'admin');
    assert.equal(accessFor('POST', '/anything', open), 'admin');
    assert.equal(accessFor('GET', '/', open), 'open');
    assert.equal(accessFor('GET', '/v1/kv/a/b/c', open), 'read');
    assert.equal(accessFor('HEAD', '/v1/kv/a', open), 'read');
    assert.equal(accessFor('GET', '/metrics', open), 'open');
    assert.equal(accessFor('GET', '/metrics', new Set()), 'read');
    assert.equal(accessFor('POST', '/v1/members/n2/promote', open), 'admin');
    assert.equal(accessFor('GET', '/v1/snapshot', open), 'admin');
  });

  test('a served path with a method it does not serve needs what its weakest route needs (the answer is 405, schemathesis finding)', async () => {
    const open = new Set(['/healthz', '/readyz', '/metrics']);
    assert.equal(accessFor('TRACE', '/healthz', open), 'open');
    assert.equal(accessFor('TRACE', '/metrics', new Set()), 'read');
    assert.equal(accessFor('PATCH', '/v1/kv/a', open), 'read');
    assert.equal(accessFor('GET', '/v1/txn', open), 'write');
    assert.equal(accessFor('PUT', '/v1/snapshot', open), 'admin');
    const access: AccessControl = { tokens: { current: TokenTable.parse(TOKEN_FILE) }, openPaths: open };
    const t = await startApi({ access });
    try {
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        const r = await fetch(`${t.url}${path}`, { method: 'PATCH' });
        assert.equal(r.status, 405, `PATCH ${path}`);
        assert.equal(r.headers.get('allow'), 'GET, HEAD');
      }
      assert.equal((await fetch(`${t.url}/v1/txn`)).status, 401, 'a protected path still wants credentials first');
    } finally {
      await t.close();
    }
  });
});

describe('401 and 403 on every protected route (real API server)', () => {
  test('no token, a malformed header or a wrong token: 401; a weaker role: 403; the needed role passes; nothing logs a token', async () => {
    const logLines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString('utf8'));
        cb();
      },
    });
    const access: AccessControl = { tokens: { current: TokenTable.parse(TOKEN_FILE) }, openPaths: new Set(['/healthz', '/readyz', '/metrics']) };
    const t = await startApi({ enableFaultInjection: true, access, logger: pino({ level: 'trace' }, sink) });
    const tried: string[] = [];
    try {
      for (const r of t.api.routes()) {
        const path = concretePath(r.path);
        const needed = accessFor(r.method, path, access.openPaths);
        const send = (headers: Record<string, string>) => raw(t.url, r.method, path, r.method === 'POST' || r.method === 'PUT' ? '{}' : undefined, { 'content-type': 'application/json', ...headers });
        if (needed === 'open') {
          const res = await send({});
          assert.notEqual(res.status, 401, `${r.method} ${path} is open`);
          tried.push(`${r.method} ${r.path}: open`);
          continue;
        }
        const none = await send({});
        assert.equal(none.status, 401, `${r.method} ${path} without a token`);
        assert.equal(none.headers['www-authenticate'], 'Bearer realm="raftkv"');
        if (r.method !== 'HEAD') assert.equal((JSON.parse(none.text) as { code: string }).code, 'UNAUTHORIZED');
        assert.equal((await send({ authorization: `Bearer ${TOKENS.admin}x` })).status, 401, `${r.method} ${path} wrong token`);
        assert.equal((await send({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` })).status, 401, `${r.method} ${path} Basic auth`);
        const weak = weaker(needed);
        if (weak !== null) {
          const res = await send({ authorization: `Bearer ${TOKENS[weak]}` });
          assert.equal(res.status, 403, `${r.method} ${path} with role ${weak}`);
          if (r.method !== 'HEAD') assert.equal((JSON.parse(res.text) as { code: string }).code, 'FORBIDDEN');
        }
        const ok = r.path === '/v1/watch' ? null : await send({ authorization: `Bearer ${TOKENS[needed]}` });
        if (ok !== null) assert.ok(ok.status !== 401 && ok.status !== 403, `${r.method} ${path} with role ${needed}: ${ok.status} ${ok.text}`);
        tried.push(`${r.method} ${r.path}: ${needed}`);
      }
      // A path no route serves is admin-only (fail closed): 401, then 403 for write, 404 for admin.
      assert.equal((await raw(t.url, 'GET', '/v1/not-a-route')).status, 401);
      assert.equal((await raw(t.url, 'GET', '/v1/not-a-route', undefined, { authorization: `Bearer ${TOKENS.write}` })).status, 403);
      assert.equal((await raw(t.url, 'GET', '/v1/not-a-route', undefined, { authorization: `Bearer ${TOKENS.admin}` })).status, 404);
      // Protected routes were all tried (the enumeration did not come back empty).
      assert.ok(tried.filter((x) => x.endsWith('admin')).length >= 7, tried.join('\n'));
      process.stdout.write(`# tried ${tried.length} routes:\n# ${tried.join('\n# ')}\n`);
    } finally {
      await t.close();
    }
    const log = logLines.join('');
    for (const tok of Object.values(TOKENS)) assert.ok(!log.includes(tok.slice(0, 12)), 'a token reached the log');
  });

  test('watch needs read and streams with it', async () => {
    const access: AccessControl = { tokens: { current: TokenTable.parse(TOKEN_FILE) }, openPaths: new Set() };
    const t = await startApi({ access });
    try {
      const ctl = new AbortController();
      const res = await fetch(`${t.url}/v1/watch?prefix=a`, { headers: { authorization: `Bearer ${TOKENS.read}` }, signal: ctl.signal });
      assert.equal(res.status, 200);
      ctl.abort();
      assert.equal((await raw(t.url, 'GET', '/metrics')).status, 401, 'with --auth-open-paths none, /metrics needs a token');
      assert.equal((await raw(t.url, 'GET', '/metrics', undefined, { authorization: `Bearer ${TOKENS.read}` })).status, 200);
    } finally {
      await t.close();
    }
  });
});
