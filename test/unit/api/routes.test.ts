// The HTTP API through real HTTP on 127.0.0.1: success shapes of every route, redirects,
// backpressure, limits, malformed input, preconditions, fencing, idempotency.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { MemberError } from '../../../daemon/src/server/errors.js';
import { errorCode, raw, startApi } from './harness.js';
import { LEADER_WAIT } from '../../../daemon/src/api/redirect.js';
import type { TestApi } from './harness.js';

let t: TestApi;
before(async () => {
  t = await startApi();
});
after(async () => {
  await t.close();
});
beforeEach(() => {
  t.member.leaderIs = 'self';
  t.member.failNext = null;
  t.member.ready = true;
  t.member.removed = false;
});

function put(key: string, value: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${t.url}/v1/kv/${encodeURIComponent(key)}`, { method: 'PUT', body: value, headers, redirect: 'manual' });
}

async function json(r: Response): Promise<Record<string, unknown>> {
  return (await r.json()) as Record<string, unknown>;
}

describe('kv', () => {
  test('PUT answers {revision, term, index}; GET returns the value with revision headers', async () => {
    const r = await put('a/b c', 'hello');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    const body = await json(r);
    assert.deepEqual(Object.keys(body), ['revision', 'term', 'index']);
    assert.equal(body.term, 3);
    const g = await fetch(`${t.url}/v1/kv/${encodeURIComponent('a/b c')}`);
    assert.equal(g.status, 200);
    assert.equal(await g.text(), 'hello');
    assert.equal(g.headers.get('x-revision'), String(body.revision));
    assert.equal(g.headers.get('x-create-revision'), String(body.revision));
    assert.equal(g.headers.get('x-raft-term'), '3');
  });

  test('binary values round-trip byte for byte', async () => {
    const bytes = Buffer.from([0, 255, 1, 128, 10, 13]);
    const r = await fetch(`${t.url}/v1/kv/bin`, { method: 'PUT', body: bytes });
    assert.equal(r.status, 200);
    const g = await fetch(`${t.url}/v1/kv/bin`);
    assert.deepEqual(Buffer.from(await g.arrayBuffer()), bytes);
  });

  test('linearizable by default, serializable skips the read barrier', async () => {
    await put('lin', 'x');
    const before = t.member.linearizableReads;
    assert.equal((await fetch(`${t.url}/v1/kv/lin`)).status, 200);
    assert.equal(t.member.linearizableReads, before + 1);
    assert.equal((await fetch(`${t.url}/v1/kv/lin?consistency=serializable`)).status, 200);
    assert.equal(t.member.linearizableReads, before + 1);
    const bad = await fetch(`${t.url}/v1/kv/lin?consistency=eventual`);
    assert.equal(bad.status, 400);
  });

  test('GET of a missing key is 404 with the error shape', async () => {
    const g = await fetch(`${t.url}/v1/kv/missing`);
    assert.equal(g.status, 404);
    assert.equal(errorCode(await g.text()), 'NOT_FOUND');
  });

  test('DELETE answers {deleted, revision} and the key is gone', async () => {
    await put('gone', 'v');
    const d = await fetch(`${t.url}/v1/kv/gone`, { method: 'DELETE' });
    assert.equal(d.status, 200);
    const body = await json(d);
    assert.equal(body.deleted, true);
    assert.equal(typeof body.revision, 'number');
    const again = await json(await fetch(`${t.url}/v1/kv/gone`, { method: 'DELETE' }));
    assert.equal(again.deleted, false);
    assert.equal((await fetch(`${t.url}/v1/kv/gone`)).status, 404);
  });

  test('list by prefix: sorted, base64 values, limit and more', async () => {
    await put('ls/b', '2');
    await put('ls/a', '1');
    await put('ls/c', '3');
    await put('lt/x', 'no');
    const r = await fetch(`${t.url}/v1/kv?prefix=ls/&limit=2`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { kvs: { key: string; value: string; modRevision: number; createRevision: number }[]; more: boolean; revision: number };
    assert.deepEqual(body.kvs.map((k) => k.key), ['ls/a', 'ls/b']);
    assert.equal(Buffer.from(body.kvs[0]?.value ?? '', 'base64').toString(), '1');
    assert.equal(body.more, true);
    assert.equal(body.revision, t.member.sm.revision);
    const all = (await (await fetch(`${t.url}/v1/kv?prefix=ls/`)).json()) as { kvs: unknown[]; more: boolean };
    assert.equal(all.kvs.length, 3);
    assert.equal(all.more, false);
    assert.equal((await fetch(`${t.url}/v1/kv?limit=-1`)).status, 400);
    // The next page: keys after the last one seen.
    const next = (await (await fetch(`${t.url}/v1/kv?prefix=ls/&limit=2&after=ls/b`)).json()) as { kvs: { key: string }[]; more: boolean };
    assert.deepEqual(next.kvs.map((k) => k.key), ['ls/c']);
    assert.equal(next.more, false);
    const long = await fetch(`${t.url}/v1/kv?prefix=ls/&after=${'x'.repeat(5000)}`);
    assert.equal(long.status, 400);
    assert.match(((await long.json()) as { error: string }).error, /after is longer than/);
    // Bytes that are not UTF-8 are refused (not paged from U+FFFD), and the message says which
    // fault it is: not UTF-8, or a malformed escape. `+` is a space.
    for (const [q, why] of [
      ['after=%FF%FE', /query parameter after is not valid UTF-8/], ['prefix=%E0%A4', /query parameter prefix is not valid UTF-8/],
      ['after=%zz', /query parameter after: malformed percent-encoding/], ['prefix=ls/&consistency=%C0', /query parameter consistency is not valid UTF-8/],
    ] as const) {
      const r = await fetch(`${t.url}/v1/kv?${q}`);
      assert.equal(r.status, 400, q);
      assert.match(((await r.json()) as { error: string }).error, why, q);
    }
    // Present but empty is not "absent": a 400 that names the parameter.
    for (const q of ['limit=', 'consistency=']) assert.equal((await fetch(`${t.url}/v1/kv?${q}`)).status, 400, q);
    await put('ls b', 'space');
    const spaced = (await (await fetch(`${t.url}/v1/kv?prefix=ls+b`)).json()) as { kvs: { key: string }[] };
    assert.deepEqual(spaced.kvs.map((k) => k.key), ['ls b']);
    const badWatch = await fetch(`${t.url}/v1/watch?prefix=%FF`);
    assert.equal(badWatch.status, 400);
  });
});

test('HEAD gives the headers of GET without a body', async () => {
  await put('head', 'abc');
  const r = await raw(t.url, 'HEAD', '/v1/kv/head');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '3');
  assert.equal(r.text, '');
});

test('garbage on the socket gets a 400 and the member keeps serving', async () => {
  const u = new URL(t.url);
  const reply = await new Promise<string>((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write('NOT HTTP AT ALL\r\n\r\n'));
    let got = '';
    s.on('data', (c: Buffer) => { got += c.toString(); });
    s.on('close', () => resolve(got));
    s.on('error', reject);
    s.setTimeout(3000, () => s.destroy());
  });
  assert.match(reply, /^HTTP\/1\.1 400 /);
  assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
});

describe('input validation (400)', () => {
  const cases: [string, () => Promise<{ status: number; text: string }>][] = [
    ['bad percent-encoding', () => raw(t.url, 'PUT', '/v1/kv/%zz', 'v')],
    ['bad UTF-8 in a key', () => raw(t.url, 'GET', '/v1/kv/%ff%fe')],
    ['empty key', () => raw(t.url, 'PUT', '/v1/kv/', 'v')],
    ['key longer than 4096 characters', () => raw(t.url, 'PUT', `/v1/kv/${encodeURIComponent('é'.repeat(4097))}`, 'v')],
    ['key longer than 4096 characters (4-byte characters)', () => raw(t.url, 'GET', `/v1/kv/${encodeURIComponent('😀'.repeat(4097))}`)],
    ['prefix longer than 4096 characters', () => raw(t.url, 'GET', `/v1/kv?prefix=${encodeURIComponent('😀'.repeat(4097))}`)],
    ['If-Match not an integer', () => raw(t.url, 'PUT', '/v1/kv/k', 'v', { 'if-match': 'banana' })],
    ['If-Match negative', () => raw(t.url, 'PUT', '/v1/kv/k', 'v', { 'if-match': '-1' })],
    ['Fencing-Token without lock', () => raw(t.url, 'PUT', '/v1/kv/k', 'v', { 'fencing-token': '12' })],
    ['Fencing-Token with a bad token', () => raw(t.url, 'PUT', '/v1/kv/k', 'v', { 'fencing-token': 'job:x' })],
    ['Idempotency-Key too long', () => raw(t.url, 'PUT', '/v1/kv/k', 'v', { 'idempotency-key': 'k'.repeat(300) })],
    ['malformed txn JSON', () => raw(t.url, 'POST', '/v1/txn', '{"compare": [', { 'content-type': 'application/json' })],
    ['txn with a bad shape', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ compare: 'nope' }))],
    ['txn with a bad compare target', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ compare: [{ key: 'a', target: 'size', op: '=', value: 1 }] }))],
    ['txn put valueBase64 not base64', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ success: [{ put: { key: 'a', valueBase64: 'hello world' } }] }))],
    ['txn put valueBase64 without padding', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ success: [{ put: { key: 'a', valueBase64: 'aGk' } }] }))],
    ['txn put with both value and valueBase64', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ success: [{ put: { key: 'a', value: 'hi', valueBase64: 'aGk=' } }] }))],
    ['txn put with no value', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ success: [{ put: { key: 'a' } }] }))],
    ['txn put value not a string', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ success: [{ put: { key: 'a', value: 5 } }] }))],
    ['txn put with a misspelt field', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ success: [{ put: { key: 'a', vaule: 'x' } }] }))],
    ['txn with an unknown top-level field', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ compares: [], success: [] }))],
    ['txn compare value with both value and valueBase64', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ compare: [{ key: 'a', target: 'value', op: '=', value: 'x', valueBase64: 'eA==' }] }))],
    ['txn compare exists with valueBase64', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ compare: [{ key: 'a', target: 'exists', op: '=', value: true, valueBase64: 'eA==' }] }))],
    ['txn with an empty key', () => raw(t.url, 'POST', '/v1/txn', JSON.stringify({ success: [{ get: { key: '' } }] }))],
    ['lock owner not a string', () => raw(t.url, 'POST', '/v1/locks/x', '{"owner": 5, "ttlMs": 100}')],
    ['lock ttl missing', () => raw(t.url, 'POST', '/v1/locks/x', '{"owner": "a"}')],
    ['lock ttl below the KV minimum', () => raw(t.url, 'POST', '/v1/locks/x', '{"owner": "a", "ttlMs": 99}')],
    ['lock release with an empty token', () => raw(t.url, 'DELETE', '/v1/locks/x?token=')],
    ['member add with a bad peer URL', () => raw(t.url, 'POST', '/v1/members', JSON.stringify({ name: 'n9', peerUrl: 'http://10.0.0.9:99999' }))],
    ['member add with a bad name', () => raw(t.url, 'POST', '/v1/members', JSON.stringify({ name: '-x', peerUrl: '10.0.0.9:2380' }))],
    ['member promote with a bad name', () => raw(t.url, 'POST', '/v1/members/%20x/promote')],
    ['transfer to a bad name', () => raw(t.url, 'POST', '/v1/leader/transfer', JSON.stringify({ to: '' }))],
    ['lock release without token', () => raw(t.url, 'DELETE', '/v1/locks/x')],
    ['member add with a bad body', () => raw(t.url, 'POST', '/v1/members', '[]')],
    ['watch with a bad revision', () => raw(t.url, 'GET', '/v1/watch?prefix=a&fromRevision=x')],
    ['watch with an empty revision', () => raw(t.url, 'GET', '/v1/watch?prefix=a&fromRevision=')],
  ];
  for (const [name, send] of cases) {
    test(name, async () => {
      const r = await send();
      assert.equal(r.status, 400, r.text);
      assert.equal(errorCode(r.text), 'BAD_REQUEST');
    });
  }

  test('a key that is not UTF-8 says so; a malformed escape says that', async () => {
    const notUtf8 = await raw(t.url, 'GET', '/v1/kv/%ff%fe');
    assert.equal(notUtf8.status, 400);
    assert.match(notUtf8.text, /key is not valid UTF-8/);
    const malformed = await raw(t.url, 'GET', '/v1/kv/a%zz');
    assert.equal(malformed.status, 400);
    assert.match(malformed.text, /key: malformed percent-encoding/);
  });

  test('txn: "hello world" as valueBase64 is a 400 that says what base64 is, not stored garbage', async () => {
    const r = await raw(t.url, 'POST', '/v1/txn', JSON.stringify({ success: [{ put: { key: 't', valueBase64: 'hello world' } }] }));
    assert.equal(r.status, 400);
    assert.match(r.text, /success\[0\]\.put\.valueBase64 must be standard base64/);
    const both = await raw(t.url, 'POST', '/v1/txn', JSON.stringify({ success: [{ put: { key: 't', value: 'a', valueBase64: 'YQ==' } }] }));
    assert.match(both.text, /either value \(UTF-8 text\) or valueBase64 \(binary\), not both/);
    assert.equal((await raw(t.url, 'GET', '/v1/kv/t')).status, 404);
  });

  test('a key of exactly 4096 characters is accepted, 4-byte characters too (the bound JSON Schema states)', async () => {
    const r = await raw(t.url, 'PUT', `/v1/kv/${'k'.repeat(4096)}`, 'v');
    assert.equal(r.status, 200, r.text);
    const wide = '😀'.repeat(4096);
    const w = await raw(t.url, 'PUT', `/v1/kv/${encodeURIComponent(wide)}`, 'v');
    assert.equal(w.status, 200, w.text);
    const list = await raw(t.url, 'GET', `/v1/kv?prefix=${encodeURIComponent(wide)}&after=${encodeURIComponent(wide.slice(0, -2))}`);
    assert.equal(list.status, 200, list.text);
    assert.equal((JSON.parse(list.text) as { kvs: unknown[] }).kvs.length, 1);
  });
});

describe('limits', () => {
  test('an oversized PUT body is 413 JSON, and the connection keeps serving', async () => {
    const r = await put('big', 'x'.repeat(4097));
    assert.equal(r.status, 413);
    assert.equal(errorCode(await r.text()), 'PAYLOAD_TOO_LARGE');
    assert.equal((await put('small', 'x'.repeat(4096))).status, 200);
  });

  test('a body declared far over the bound gets 413 and the connection is closed, not drained', async () => {
    const u = new URL(t.url);
    const reply = await new Promise<string>((resolve, reject) => {
      const s = connect(Number(u.port), u.hostname, () => s.write('PUT /v1/kv/huge HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nxxxx'));
      let got = '';
      s.on('data', (c: Buffer) => { got += c.toString(); });
      s.on('close', () => resolve(got));
      s.on('error', reject);
      s.setTimeout(3000, () => {
        s.destroy();
        reject(new Error(`connection not closed; got: ${got}`));
      });
    });
    assert.match(reply, /^HTTP\/1\.1 413 /);
  });

  test('an oversized chunked body is 413 too', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(1000));
        c.close();
      },
    });
    const r = await fetch(`${t.url}/v1/kv/chunked`, { method: 'PUT', body, duplex: 'half' } as RequestInit);
    assert.equal(r.status, 413);
  });

  test('an oversized JSON body is 413', async () => {
    const r = await raw(t.url, 'POST', '/v1/txn', JSON.stringify({ compare: [], success: [{ put: { key: 'a', value: 'A'.repeat(8000) } }] }));
    assert.equal(r.status, 413);
  });

  test('backpressure from the member is 429 with Retry-After', async () => {
    t.member.failNext = new MemberError('Backpressure', 'too many pending proposals');
    const r = await put('bp', 'v');
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(errorCode(await r.text()), 'TOO_MANY_REQUESTS');
  });
});

describe('leadership', () => {
  const writes: [string, string, string?][] = [
    ['PUT', '/v1/kv/r?x=1', 'v'],
    ['DELETE', '/v1/kv/r'],
    ['POST', '/v1/txn', '{}'],
    ['POST', '/v1/locks/l', '{"owner":"a","ttlMs":1000}'],
    ['DELETE', '/v1/locks/l?token=3'],
    ['POST', '/v1/members', '{"name":"n9","peerUrl":"127.0.0.1:9","clientUrl":"http://127.0.0.1:8"}'],
    ['POST', '/v1/members/n2/promote'],
    ['DELETE', '/v1/members/n2'],
    ['POST', '/v1/leader/transfer', '{}'],
    ['POST', '/v1/snapshot'],
  ];
  for (const [method, path, body] of writes) {
    test(`${method} ${path} on a follower is 307 to the leader`, async () => {
      t.member.leaderIs = { name: 'n2', clientUrl: 'http://127.0.0.1:2381' };
      const r = await raw(t.url, method, path, body);
      assert.equal(r.status, 307, r.text);
      assert.equal(r.headers['location'], `http://127.0.0.1:2381${path}`);
      assert.equal(r.headers['x-raft-leader'], 'n2');
    });
  }

  test('a malformed write on a follower is 400 there, not a redirect to the same 400', async () => {
    t.member.leaderIs = { name: 'n2', clientUrl: 'http://127.0.0.1:2381' };
    for (const [method, path, body] of [
      ['POST', '/v1/txn', ''], ['POST', '/v1/txn', '{"compare":"x"}'], ['POST', '/v1/locks/l', '{"owner":"a"}'], ['DELETE', '/v1/locks/l?token=x'],
      ['POST', '/v1/members', '{"name":"n9"}'], ['POST', '/v1/leader/transfer', '{"to":""}'], ['POST', '/v1/members/-x/promote', undefined],
      ['PUT', '/v1/kv/a%zz', 'v'], ['PUT', '/v1/kv/a', 'v'],
    ] as const) {
      const r = await raw(t.url, method, path, body, path === '/v1/kv/a' ? { 'if-match': 'x' } : {});
      assert.equal(r.status, 400, `${method} ${path} ${body ?? ''}: ${r.text}`);
    }
  });

  test('without a leader, writes are 503 NO_LEADER with Retry-After (after waiting LEADER_WAIT for an election)', async () => {
    t.member.leaderIs = null;
    const startMs = Date.now();
    const r = await put('nl', 'v');
    assert.ok(Date.now() - startMs >= LEADER_WAIT.defaultMaxWaitMs - 100, 'the write waited for an election first');
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(errorCode(await r.text()), 'NO_LEADER');
  });

  test('a write arriving during an election waits for the leader, then is served or redirected (no 503)', async () => {
    t.member.leaderIs = null;
    setTimeout(() => { t.member.leaderIs = 'self'; }, 300).unref();
    const w = await put('elect', 'v');
    assert.equal(w.status, 200, await w.clone().text());
    t.member.leaderIs = null;
    setTimeout(() => { t.member.leaderIs = { name: 'n2', clientUrl: 'http://127.0.0.1:2381' }; }, 300).unref();
    const redirected = await raw(t.url, 'POST', '/v1/txn', '{}');
    assert.equal(redirected.status, 307, redirected.text);
    t.member.leaderIs = null;
    setTimeout(() => { t.member.leaderIs = 'self'; }, 300).unref();
    assert.equal((await fetch(`${t.url}/v1/kv/elect`)).status, 200);
  });

  test('a leader lost between check and propose still redirects (driver NotLeader)', async () => {
    t.member.failNext = new MemberError('NotLeader', 'not the leader', { name: 'n3', clientUrl: 'http://127.0.0.1:2385' });
    const r = await put('race', 'v');
    assert.equal(r.status, 307);
    assert.equal(r.headers.get('location'), 'http://127.0.0.1:2385/v1/kv/race');
    assert.equal(r.headers.get('x-raft-leader'), 'n3');
  });

  test('reads are served by a follower (linearizable through the member)', async () => {
    await put('fr', 'v');
    t.member.leaderIs = { name: 'n2', clientUrl: 'http://127.0.0.1:2381' };
    const g = await fetch(`${t.url}/v1/kv/fr`, { redirect: 'manual' });
    assert.equal(g.status, 200);
    assert.equal(await g.text(), 'v');
  });
});

describe('preconditions, fencing, idempotency', () => {
  test('If-Match: 0 creates, then mismatches give 412', async () => {
    const c = await put('cas', 'a', { 'If-Match': '0' });
    assert.equal(c.status, 200);
    const rev = (await json(c)).revision as number;
    const again = await put('cas', 'b', { 'If-Match': '0' });
    assert.equal(again.status, 412);
    assert.equal(errorCode(await again.text()), 'PRECONDITION_FAILED');
    assert.equal((await put('cas', 'b', { 'If-Match': String(rev + 1) })).status, 412);
    assert.equal((await put('cas', 'c', { 'If-Match': String(rev) })).status, 200);
    assert.equal(await (await fetch(`${t.url}/v1/kv/cas`)).text(), 'c');
  });

  test('locks: 409 while held; fencing tokens grow; a stale token is 409', async () => {
    const a = await raw(t.url, 'POST', '/v1/locks/job', JSON.stringify({ owner: 'A', ttlMs: 60_000 }));
    assert.equal(a.status, 200, a.text);
    const la = JSON.parse(a.text) as { token: number; owner: string };
    assert.equal(la.owner, 'A');
    const b = await raw(t.url, 'POST', '/v1/locks/job', JSON.stringify({ owner: 'B', ttlMs: 60_000 }));
    assert.equal(b.status, 409);
    assert.equal(errorCode(b.text), 'CONFLICT');
    assert.equal((await put('fenced', 'by A', { 'Fencing-Token': `job:${la.token}` })).status, 200);
    const rel = await raw(t.url, 'DELETE', `/v1/locks/job?token=${la.token}`);
    assert.equal(rel.status, 200);
    assert.deepEqual(JSON.parse(rel.text), { released: true });
    const b2 = await raw(t.url, 'POST', '/v1/locks/job', JSON.stringify({ owner: 'B', ttlMs: 60_000 }));
    const lb = JSON.parse(b2.text) as { token: number };
    assert.ok(lb.token > la.token);
    const wrongRelease = await raw(t.url, 'DELETE', `/v1/locks/job?token=${la.token}`);
    assert.equal(wrongRelease.status, 409, 'a stale token cannot release the new holder');
    const stale = await put('fenced', 'late A', { 'Fencing-Token': `job:${la.token}` });
    assert.equal(stale.status, 409);
    assert.equal(await (await fetch(`${t.url}/v1/kv/fenced`)).text(), 'by A');
  });

  test('the same Idempotency-Key returns the first response and applies once', async () => {
    const h = { 'Idempotency-Key': 'idem-1' };
    const first = await json(await put('idem', 'one', h));
    const applied = t.member.sm.appliedIndex;
    const revBefore = t.member.sm.revision;
    const second = await json(await put('idem', 'one', h));
    assert.deepEqual(second, first);
    assert.equal(t.member.sm.appliedIndex, applied + 1, 'the retry reached the state machine');
    assert.equal(t.member.sm.revision, revBefore, 'and changed nothing');
    const other = await put('idem', 'two', { 'Idempotency-Key': 'idem-2' });
    assert.equal(other.status, 200);
    assert.notDeepEqual(await json(other), first, 'a different key is a different write');
  });

  test('an Idempotency-Key reused for a different kind of request is 409 IDEMPOTENCY_KEY_REUSED, not a 500 (schemathesis finding)', async () => {
    const h = { 'idempotency-key': 'reused-1', 'content-type': 'application/json' };
    assert.equal((await raw(t.url, 'POST', '/v1/txn', JSON.stringify({ success: [{ get: { key: 'x' } }] }), h)).status, 200);
    for (const [method, path, body] of [['PUT', '/v1/kv/reused', 'v'], ['DELETE', '/v1/kv/reused', undefined], ['POST', '/v1/locks/reused', '{"owner":"o","ttlMs":1000}'], ['DELETE', '/v1/locks/reused?token=1', undefined]] as const) {
      const r = await raw(t.url, method, path, body, h);
      assert.equal(r.status, 409, `${method} ${path}: ${r.text}`);
      assert.equal(errorCode(r.text), 'IDEMPOTENCY_KEY_REUSED');
      assert.match(r.text, /already used for a different request \(a txn/);
    }
  });
});

describe('txn', () => {
  test('compare/success/failure with results', async () => {
    await put('tx/a', 'A');
    const txn = {
      compare: [{ key: 'tx/a', target: 'value', op: '=', value: 'A' }],
      success: [{ put: { key: 'tx/b', value: 'hello world' } }, { put: { key: 'tx/bin', valueBase64: Buffer.from([0, 255, 10]).toString('base64') } }, { get: { key: 'tx/a' } }, { delete: { key: 'tx/zz' } }],
      failure: [],
    };
    const r = await raw(t.url, 'POST', '/v1/txn', JSON.stringify(txn), { 'content-type': 'application/json' });
    assert.equal(r.status, 200, r.text);
    const body = JSON.parse(r.text) as { succeeded: boolean; revision: number; results: { type: string; kv?: { value: string } | null }[] };
    assert.equal(body.succeeded, true);
    assert.deepEqual(body.results.map((x) => x.type), ['put', 'put', 'get', 'delete']);
    assert.equal(Buffer.from(body.results[2]?.kv?.value ?? '', 'base64').toString(), 'A');
    // value is stored as its UTF-8 text, valueBase64 as the bytes it encodes.
    assert.equal((await raw(t.url, 'GET', '/v1/kv/tx/b')).text, 'hello world');
    assert.deepEqual(Buffer.from(await (await fetch(`${t.url}/v1/kv/tx/bin`)).arrayBuffer()), Buffer.from([0, 255, 10]));
    const byBytes = await raw(t.url, 'POST', '/v1/txn', JSON.stringify({ compare: [{ key: 'tx/bin', target: 'value', op: '=', valueBase64: 'AP8K' }], success: [], failure: [] }));
    assert.equal((JSON.parse(byBytes.text) as { succeeded: boolean }).succeeded, true, byBytes.text);
    const miss = await raw(t.url, 'POST', '/v1/txn', JSON.stringify({ compare: [{ key: 'tx/none', target: 'exists', op: '=', value: true }], success: [], failure: [{ get: { key: 'tx/none' } }] }));
    const mb = JSON.parse(miss.text) as { succeeded: boolean; results: { kv: unknown }[] };
    assert.equal(mb.succeeded, false);
    assert.equal(mb.results[0]?.kv, null);
  });
});

describe('cluster routes', () => {
  test('status and members carry CORS for the status page', async () => {
    const s = await fetch(`${t.url}/v1/status`);
    assert.equal(s.status, 200);
    assert.equal(s.headers.get('access-control-allow-origin'), '*');
    const st = await json(s);
    assert.equal(st.name, 'n1');
    assert.equal(st.role, 'leader');
    const m = await fetch(`${t.url}/v1/members`);
    assert.equal(m.headers.get('access-control-allow-origin'), '*');
    assert.equal(((await json(m)).members as unknown[]).length, t.member.members.length);
    const pre = await fetch(`${t.url}/v1/status`, { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  });

  test('membership: add a learner, promote, remove; unknown member is 404', async () => {
    const add = await raw(t.url, 'POST', '/v1/members', JSON.stringify({ name: 'n3', peerUrl: '127.0.0.1:2384', clientUrl: 'http://127.0.0.1:2383' }));
    assert.equal(add.status, 200, add.text);
    assert.ok((JSON.parse(add.text) as { members: { name: string; voter: boolean }[] }).members.some((m) => m.name === 'n3' && !m.voter));
    t.member.failNext = new MemberError('Conflict', 'the learner has not caught up with the leader yet');
    assert.equal((await raw(t.url, 'POST', '/v1/members/n3/promote')).status, 409);
    assert.equal((await raw(t.url, 'POST', '/v1/members/n3/promote')).status, 200);
    assert.equal((await raw(t.url, 'DELETE', '/v1/members/n3')).status, 200);
    const gone = await raw(t.url, 'DELETE', '/v1/members/n3');
    assert.equal(gone.status, 404, gone.text);
  });

  test('leader transfer and snapshot', async () => {
    const s = await raw(t.url, 'POST', '/v1/snapshot');
    assert.equal(s.status, 200);
    assert.equal((JSON.parse(s.text) as { index: number }).index, t.member.index);
    const tr = await raw(t.url, 'POST', '/v1/leader/transfer', JSON.stringify({ to: 'n2' }));
    assert.equal(tr.status, 200, tr.text);
    assert.equal((JSON.parse(tr.text) as { leader: string }).leader, 'n2');
  });

  test('healthz, readyz, metrics', async () => {
    assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${t.url}/readyz`)).status, 200);
    t.member.ready = false;
    const nr = await fetch(`${t.url}/readyz`);
    assert.equal(nr.status, 503);
    assert.equal(nr.headers.get('retry-after'), '1');
    const m = await fetch(`${t.url}/metrics`);
    assert.equal(m.status, 200);
    const text = await m.text();
    assert.match(text, /raftkv_http_request_duration_seconds_count\{[^}]*route="\/v1\/kv\/:key"/);
    assert.doesNotMatch(text, /route="\/v1\/kv\/a/, 'keys never become labels');
  });

  test('a removed member answers 410 MEMBER_REMOVED to client requests and keeps status, health and readiness (503)', async () => {
    await put('before-removal', 'v');
    const revision = t.member.sm.revision;
    t.member.removed = true;
    const refused: [string, string, string?][] = [
      ['PUT', '/v1/kv/k', 'v'],
      ['GET', '/v1/kv/before-removal?consistency=serializable'],
      ['GET', '/v1/kv/before-removal'],
      ['DELETE', '/v1/kv/k'],
      ['GET', '/v1/kv?prefix=b'],
      ['POST', '/v1/txn', JSON.stringify({ compare: [], success: [], failure: [] })],
      ['POST', '/v1/locks/l', JSON.stringify({ owner: 'o', ttlMs: 1000 })],
      ['GET', '/v1/watch?prefix='],
      ['POST', '/v1/members', JSON.stringify({ name: 'n9', peerUrl: '127.0.0.1:1', clientUrl: 'http://127.0.0.1:2' })],
      ['POST', '/v1/leader/transfer', '{}'],
      ['POST', '/v1/snapshot'],
    ];
    for (const [method, path, body] of refused) {
      const r = await raw(t.url, method, path, body);
      assert.equal(r.status, 410, `${method} ${path}: ${r.text}`);
      assert.equal(errorCode(r.text), 'MEMBER_REMOVED', `${method} ${path}`);
    }
    assert.equal(t.member.sm.revision, revision, 'nothing was applied while removed');
    const st = await fetch(`${t.url}/v1/status`);
    assert.equal(st.status, 200);
    assert.equal((await json(st)).removed, true);
    assert.equal((await fetch(`${t.url}/v1/members`)).status, 200);
    assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
    const rz = await fetch(`${t.url}/readyz`);
    assert.equal(rz.status, 503);
    assert.equal((await json(rz)).reason, 'removed from the cluster');
    assert.equal((await fetch(`${t.url}/metrics`)).status, 200);
    // Added again: it serves as before.
    t.member.removed = false;
    assert.equal((await raw(t.url, 'GET', '/v1/kv/before-removal?consistency=serializable')).status, 200);
  });

  test('the faults endpoint is 404 when fault injection is off', async () => {
    const r = await raw(t.url, 'POST', '/v1/debug/faults', JSON.stringify({ dropPeerTraffic: true }));
    assert.equal(r.status, 404);
    assert.equal(t.member.faults, null);
  });

  test('unknown routes are 404 JSON; a known path with the wrong method is 405 with Allow', async () => {
    const r = await raw(t.url, 'GET', '/v2/nothing');
    assert.equal(r.status, 404);
    assert.equal(errorCode(r.text), 'NOT_FOUND');
    for (const [method, path, allow] of [
      ['POST', '/v1/kv/x', 'GET, HEAD, PUT, DELETE'], ['PATCH', '/v1/kv/a/b', 'GET, HEAD, PUT, DELETE'], ['DELETE', '/v1/kv', 'GET, HEAD'],
      ['GET', '/v1/txn', 'POST'], ['PUT', '/v1/locks/job', 'POST, DELETE'], ['GET', '/v1/members/n2', 'DELETE'],
      ['DELETE', '/v1/status', 'GET, HEAD, OPTIONS'], ['POST', '/healthz', 'GET, HEAD'], ['PUT', '/v1/snapshot', 'POST, GET, HEAD'],
      ['GET', '/v1/leader/transfer', 'POST'], ['TRACE', '/v1/watch', 'GET, HEAD'], ['POST', '/v1/openapi.json', 'GET, HEAD'],
    ] as const) {
      const res = await raw(t.url, method, path);
      assert.equal(res.status, 405, `${method} ${path}: ${res.text}`);
      assert.equal(errorCode(res.text), 'METHOD_NOT_ALLOWED');
      assert.deepEqual(String(res.headers['allow']).split(', ').sort(), allow.split(', ').sort(), `${method} ${path}`);
    }
  });
});

test('faults endpoint and status page when enabled', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-api-'));
  writeFileSync(join(dir, 'index.html'), '<h1>raftkv</h1>');
  const e = await startApi({ enableFaultInjection: true, staticDir: dir });
  try {
    const r = await raw(e.url, 'POST', '/v1/debug/faults', JSON.stringify({ dropPeerTraffic: false, dropPeers: ['n2'], durationMs: 1000 }));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(e.member.faults, { dropPeerTraffic: false, dropPeers: ['n2'], durationMs: 1000 });
    const bad = await raw(e.url, 'POST', '/v1/debug/faults', JSON.stringify({ dropPeers: 'n2' }));
    assert.equal(bad.status, 400);
    const page = await fetch(`${e.url}/`);
    assert.equal(page.status, 200);
    assert.equal(await page.text(), '<h1>raftkv</h1>');
  } finally {
    await e.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
