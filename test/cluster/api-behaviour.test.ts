// One healthy 3-member cluster, many client-facing behaviours: replication, redirects,
// compare-and-set, locks and fencing, idempotent retries, oversized and malformed input.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, waitFor } from '../lib/cluster-harness.js';
import type { ClusterMember } from '../lib/cluster-harness.js';
import { call, get, keepLogsIfFailed, kvPath, put, tracked } from './client.js';
import type { FailureFlag } from './client.js';

const MAX_REQUEST_BYTES = 64 * 1024;
let c: Cluster;
let leader: ClusterMember;
const flag: FailureFlag = { failed: false };

before(tracked(flag, async () => {
  c = await Cluster.start({ members: 3, electionTimeoutMs: 600, heartbeatIntervalMs: 100, extraArgs: ['--max-request-bytes', String(MAX_REQUEST_BYTES)] });
  leader = await c.waitForLeader();
}));

after(async () => {
  keepLogsIfFailed(c, flag, 'api-behaviour');
  await c?.destroy();
});

function followers(): ClusterMember[] {
  return c.running().filter((m) => m !== leader);
}

test('a write on the leader is replicated to every member', tracked(flag, async () => {
  const r = await c.request(leader, 'PUT', kvPath('greeting'), { body: 'hello' });
  assert.equal(r.status, 200, r.text);
  const body = r.json as { revision: number; term: number; index: number };
  assert.ok(body.revision > 0 && body.term > 0 && body.index > 0, r.text);
  for (const m of c.running()) {
    await waitFor(`greeting on ${m.name}`, 5000, async () => {
      const g = await c.request(m, 'GET', `${kvPath('greeting')}?consistency=serializable`);
      return g.status === 200 && g.text === 'hello' ? true : null;
    });
  }
  // A linearizable read on a follower sees the write too.
  const f = followers()[0];
  assert.ok(f);
  const lin = await c.request(f, 'GET', kvPath('greeting'));
  assert.equal(lin.status, 200, lin.text);
  assert.equal(lin.text, 'hello');
  assert.equal(lin.headers.get('x-revision'), String(body.revision));
}));

test('a write sent to a follower is redirected to the leader (307, Location, X-Raft-Leader)', tracked(flag, async () => {
  const f = followers()[0];
  assert.ok(f);
  const r = await c.request(f, 'PUT', kvPath('redirected/key'), { body: 'v' });
  assert.equal(r.status, 307, r.text);
  assert.equal(r.headers.get('x-raft-leader'), leader.name);
  const loc = r.headers.get('location');
  assert.ok(loc, 'Location header');
  assert.equal(new URL(loc).origin, leader.clientUrl);
  assert.equal(new URL(loc).pathname, kvPath('redirected/key'));
}));

test('compare-and-set with If-Match', tracked(flag, async () => {
  const create = await c.request(leader, 'PUT', kvPath('cas'), { body: 'a', headers: { 'If-Match': '0' } });
  assert.equal(create.status, 200, create.text);
  const rev = (create.json as { revision: number }).revision;
  const again = await c.request(leader, 'PUT', kvPath('cas'), { body: 'b', headers: { 'If-Match': '0' } });
  assert.equal(again.status, 412, again.text);
  const stale = await c.request(leader, 'PUT', kvPath('cas'), { body: 'b', headers: { 'If-Match': String(rev - 1) } });
  assert.equal(stale.status, 412, stale.text);
  const ok = await c.request(leader, 'PUT', kvPath('cas'), { body: 'c', headers: { 'If-Match': String(rev) } });
  assert.equal(ok.status, 200, ok.text);
  const g = await get(c, 'cas');
  assert.equal(g.text, 'c');
}));

test('locks: held lock refuses other owners; a stale fencing token is refused with 409', tracked(flag, async () => {
  const a = await c.request(leader, 'POST', '/v1/locks/job', { body: JSON.stringify({ owner: 'A', ttlMs: 60_000 }), headers: { 'content-type': 'application/json' } });
  assert.equal(a.status, 200, a.text);
  const tokenA = (a.json as { token: number }).token;
  const b = await c.request(leader, 'POST', '/v1/locks/job', { body: JSON.stringify({ owner: 'B', ttlMs: 60_000 }), headers: { 'content-type': 'application/json' } });
  assert.equal(b.status, 409, b.text);
  const withA = await c.request(leader, 'PUT', kvPath('fenced'), { body: 'by A', headers: { 'Fencing-Token': `job:${tokenA}` } });
  assert.equal(withA.status, 200, withA.text);
  const rel = await c.request(leader, 'DELETE', `/v1/locks/job?token=${tokenA}`);
  assert.equal(rel.status, 200, rel.text);
  const b2 = await c.request(leader, 'POST', '/v1/locks/job', { body: JSON.stringify({ owner: 'B', ttlMs: 60_000 }), headers: { 'content-type': 'application/json' } });
  assert.equal(b2.status, 200, b2.text);
  const tokenB = (b2.json as { token: number }).token;
  assert.ok(tokenB > tokenA, `fencing tokens grow (${tokenA} then ${tokenB})`);
  const staleA = await c.request(leader, 'PUT', kvPath('fenced'), { body: 'late A', headers: { 'Fencing-Token': `job:${tokenA}` } });
  assert.equal(staleA.status, 409, staleA.text);
  const g = await get(c, 'fenced');
  assert.equal(g.text, 'by A');
}));

test('the same Idempotency-Key returns the first response and applies once', tracked(flag, async () => {
  const h = { 'Idempotency-Key': 'idem-1' };
  const first = await c.request(leader, 'PUT', kvPath('idem'), { body: 'one', headers: h });
  assert.equal(first.status, 200, first.text);
  const second = await c.request(leader, 'PUT', kvPath('idem'), { body: 'one', headers: h });
  assert.equal(second.status, 200, second.text);
  assert.deepEqual(second.json, first.json);
  assert.equal(first.headers.get('idempotency-replayed'), null);
  assert.equal(second.headers.get('idempotency-replayed'), 'true');
  const g = await get(c, 'idem');
  assert.equal(g.headers.get('x-revision'), String((first.json as { revision: number }).revision));
}));

test('oversized and malformed requests get 4xx and the member keeps serving', tracked(flag, async () => {
  const big = await c.request(leader, 'PUT', kvPath('big'), { body: 'x'.repeat(MAX_REQUEST_BYTES + 1) });
  assert.equal(big.status, 413, big.text.slice(0, 200));
  const badTxn = await c.request(leader, 'POST', '/v1/txn', { body: '{"compare": [', headers: { 'content-type': 'application/json' } });
  assert.equal(badTxn.status, 400, badTxn.text);
  const badTxnShape = await c.request(leader, 'POST', '/v1/txn', { body: JSON.stringify({ compare: 'nope' }), headers: { 'content-type': 'application/json' } });
  assert.equal(badTxnShape.status, 400, badTxnShape.text);
  const longKey = await c.request(leader, 'PUT', kvPath('k'.repeat(5000)), { body: 'v' });
  assert.ok(longKey.status === 400 || longKey.status === 414 || longKey.status === 431, `long key: ${longKey.status}`);
  const badLock = await c.request(leader, 'POST', '/v1/locks/x', { body: '{"owner": 5}', headers: { 'content-type': 'application/json' } });
  assert.equal(badLock.status, 400, badLock.text);
  const badIfMatch = await c.request(leader, 'PUT', kvPath('k1'), { body: 'v', headers: { 'If-Match': 'banana' } });
  assert.equal(badIfMatch.status, 400, badIfMatch.text);
  const badMember = await c.request(leader, 'POST', '/v1/members', { body: '[]', headers: { 'content-type': 'application/json' } });
  assert.equal(badMember.status, 400, badMember.text);
  for (const m of c.running()) {
    const h = await c.request(m, 'GET', '/healthz');
    assert.equal(h.status, 200);
  }
  const after = await put(c, 'still-serving', 'yes');
  assert.equal(after.status, 200, after.text);
}));

test('status and members list every member with addresses', tracked(flag, async () => {
  const s = await call(c, 'GET', '/v1/status');
  assert.equal(s.status, 200);
  const st = s.json as { members: { name: string; voter: boolean; clientUrl: string; peerUrl: string }[]; leader: { name: string } };
  assert.equal(st.members.length, 3);
  assert.ok(st.members.every((m) => m.voter));
  assert.equal(st.leader.name, leader.name);
  const leaderInfo = st.members.find((m) => m.name === leader.name);
  assert.equal(leaderInfo?.clientUrl, leader.clientUrl);
  // Followers' client URLs arrive through the peer handshake and a publish entry by the leader.
  for (const viewer of c.running()) {
    await waitFor(`every client URL known on ${viewer.name}`, 5000, async () => {
      const v = await c.status(viewer);
      return v && c.members.every((m) => v.members.find((x) => x.name === m.name)?.clientUrl === m.clientUrl) ? true : null;
    });
  }
}));

test('every member serves the OpenAPI document; a known path with the wrong method is 405 with Allow', tracked(flag, async () => {
  for (const m of c.running()) {
    const r = await c.request(m, 'GET', '/v1/openapi.json');
    assert.equal(r.status, 200, `${m.name}: ${r.text.slice(0, 200)}`);
    assert.equal((r.json as { openapi?: string }).openapi, '3.1.0');
  }
  const wrong = await c.request(leader, 'GET', '/v1/txn');
  assert.equal(wrong.status, 405, wrong.text);
  assert.equal(wrong.headers.get('allow'), 'POST');
}));

// Last: it moves the leadership.
test('writes sent to the leader through a leadership transfer are answered 200 or 307, never 503', tracked(flag, async () => {
  const from = leader;
  const to = followers()[0];
  assert.ok(to);
  const statuses: number[] = [];
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing && i < 2000; i++) {
      const r = await c.request(from, 'PUT', kvPath(`transfer/${i}`), { body: 'v' });
      statuses.push(r.status);
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  const t = await c.request(from, 'POST', '/v1/leader/transfer', { body: JSON.stringify({ to: to.name }), headers: { 'content-type': 'application/json' } });
  assert.equal(t.status, 200, t.text);
  await new Promise((r) => setTimeout(r, 500));
  writing = false;
  await writer;
  leader = await c.waitForLeader();
  assert.equal(leader.name, to.name);
  assert.ok(statuses.includes(200) && statuses.includes(307), `statuses seen: ${[...new Set(statuses)].join(', ')}`);
  assert.deepEqual(statuses.filter((s) => s !== 200 && s !== 307), [], `statuses seen: ${[...new Set(statuses)].join(', ')}`);
}));
