// Every end-of-run check of the chaos harness, each shown to catch a known-bad case: the
// HTTP-based ones against a fake member (a tiny server on 127.0.0.1 answering like raftkv but
// with planted defects), the pure ones on hand-made records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkConvergence, checkDurability, checkIdempotency } from '../../chaos/checks.js';
import { checkChaosLinearizable } from '../../chaos/linearizable.js';
import { checkDiskFull, checkNoCrash, type DiskEpisode } from '../../chaos/nemesis.js';
import type { MemberSet, UnexpectedExit } from '../../chaos/members.js';
import type { ChaosClients, ChaosOp } from '../../chaos/clients.js';

interface FakeKv { value: string; modRevision: number; createRevision: number }

/** A member that serves /v1/status, GET /v1/kv/:key and the list API from a fixed map. */
async function fakeMember(kvs: Record<string, FakeKv>, appliedIndex: number): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (u.pathname === '/v1/status') return json(200, { name: 'n', role: 'follower', term: 1, leader: null, appliedIndex, commitIndex: appliedIndex, members: [] });
    if (u.pathname === '/v1/kv') {
      const after = u.searchParams.get('after');
      const limit = Number(u.searchParams.get('limit') ?? '1000');
      const list = Object.keys(kvs).sort().filter((k) => after === null || k > after).map((key) => ({ key, ...(kvs[key] as FakeKv) }));
      return json(200, { kvs: list.slice(0, limit), more: list.length > limit, revision: appliedIndex });
    }
    const key = decodeURIComponent(u.pathname.slice('/v1/kv/'.length));
    const kv = kvs[key];
    if (!kv) return json(404, { code: 'KEY_NOT_FOUND', message: key });
    res.writeHead(200, { 'x-revision': String(kv.modRevision), 'x-create-revision': String(kv.createRevision) });
    res.end(kv.value);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function setOf(urls: readonly string[]): MemberSet {
  // The checks only ask the set for client URLs.
  return { clientUrl: (i: number) => urls[i] ?? '' } as unknown as MemberSet;
}

function clientsOf(acknowledged: Record<string, string>, idempotent: Record<string, number>): ChaosClients {
  const idem = new Map(Object.entries(idempotent).map(([k, attempts]) => [k, { idemKey: `i-${k}`, value: acknowledged[k] ?? '', attempts, acked: true }]));
  return { acknowledged: new Map(Object.entries(acknowledged)), idempotentWrites: idem } as unknown as ChaosClients;
}

async function closeAll(servers: readonly Server[]): Promise<void> {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
}

const good: Record<string, FakeKv> = { a: { value: '1', modRevision: 3, createRevision: 3 }, b: { value: '2', modRevision: 5, createRevision: 5 } };

test('durability: all acknowledged writes present passes; a lost or altered one fails', async () => {
  const ok1 = await fakeMember(good, 9);
  const lost = await fakeMember({ a: good['a'] as FakeKv }, 9);
  const altered = await fakeMember({ ...good, b: { value: 'X', modRevision: 5, createRevision: 5 } }, 9);
  try {
    const clients = clientsOf({ a: '1', b: '2' }, {});
    assert.equal((await checkDurability(setOf([ok1.url]), clients, [0])).ok, true);
    const r1 = await checkDurability(setOf([ok1.url, lost.url]), clients, [0, 1]);
    assert.equal(r1.ok, false);
    assert.match(r1.detail, /n1:b \(HTTP 404\)/);
    assert.equal((await checkDurability(setOf([altered.url]), clients, [0])).ok, false);
  } finally {
    await closeAll([ok1.server, lost.server, altered.server]);
  }
});

test('idempotency: a retried write applied once passes; one applied twice (modRevision moved) fails', async () => {
  const once = await fakeMember(good, 9);
  const twice = await fakeMember({ ...good, b: { value: '2', modRevision: 7, createRevision: 5 } }, 9);
  try {
    const clients = clientsOf({ a: '1', b: '2' }, { a: 1, b: 3 });
    const r = await checkIdempotency(setOf([once.url]), clients, 0);
    assert.equal(r.ok, true);
    assert.match(r.detail, /2 idempotent writes \(1 retried\)/);
    const bad = await checkIdempotency(setOf([twice.url]), clients, 0);
    assert.equal(bad.ok, false);
    assert.match(bad.detail, /b \(create 5, mod 7, attempts 3\)/);
  } finally {
    await closeAll([once.server, twice.server]);
  }
});

test('convergence: identical members pass; a diverged value or a different applied index fails', async () => {
  const m0 = await fakeMember(good, 9);
  const m1 = await fakeMember(good, 9);
  const diverged = await fakeMember({ ...good, a: { value: '1', modRevision: 4, createRevision: 3 } }, 9);
  const behind = await fakeMember(good, 8);
  try {
    assert.equal((await checkConvergence(setOf([m0.url, m1.url]), [0, 1])).ok, true);
    assert.equal((await checkConvergence(setOf([m0.url, diverged.url]), [0, 1])).ok, false);
    assert.equal((await checkConvergence(setOf([m0.url, behind.url]), [0, 1])).ok, false);
  } finally {
    await closeAll([m0.server, m1.server, diverged.server, behind.server]);
  }
});

test('convergence pages through more keys than one list call returns', async () => {
  const many: Record<string, FakeKv> = {};
  for (let i = 0; i < 10_050; i++) many[`k${String(i).padStart(5, '0')}`] = { value: String(i), modRevision: i + 1, createRevision: i + 1 };
  const m0 = await fakeMember(many, 10_050);
  const m1 = await fakeMember({ ...many }, 10_050);
  // Differs only on the second page.
  const late = await fakeMember({ ...many, k10040: { value: 'X', modRevision: 10_041, createRevision: 10_041 } }, 10_050);
  try {
    const same = await checkConvergence(setOf([m0.url, m1.url]), [0, 1]);
    assert.equal(same.ok, true, same.detail);
    assert.equal((await checkConvergence(setOf([m0.url, late.url]), [0, 1])).ok, false);
  } finally {
    await closeAll([m0.server, m1.server, late.server]);
  }
});

const op = (process: number, f: ChaosOp['f'], value: string | null, invokeMs: number, completeMs: number, outcome: ChaosOp['outcome'] = 'ok'): ChaosOp =>
  ({ process, key: 'k', f, value, invokeMs, completeMs, outcome, note: '' });

test('linearizability of a chaos history: a stale read after an acknowledged write fails', () => {
  const fine = [op(1, 'write', 'a', 1, 2), op(2, 'read', 'a', 3, 4), op(3, 'write', 'b', 5, 0, 'info'), op(2, 'read', 'b', 9, 10)];
  assert.equal(checkChaosLinearizable(fine).ok, true);
  const stale = [op(1, 'write', 'a', 1, 2), op(1, 'write', 'b', 3, 4), op(2, 'read', 'a', 5, 6)];
  const r = checkChaosLinearizable(stale);
  assert.equal(r.ok, false);
  assert.match(r.detail, /^VIOLATION/);
});

const exit = (o: Partial<UnexpectedExit>): UnexpectedExit => ({
  member: 'n4', atMs: 0, code: 1, signal: null, diskFull: true, duringStartup: true,
  logTail: 'raftkv: cannot open the data dir (NoSpace): open /d: no space left on device (Database is not open)', ...o,
});
const episode = (o: Partial<DiskEpisode>): DiskEpisode => ({ member: 'n4', role: 'leader', probeStatus: 507, probeMessage: 'NO_SPACE the member cannot persist', probeAccepted: 3, exits: [], recoveredMs: 120, ...o });

test('full disk: a JSON 507, a redirect or a start refused on the full disk pass', () => {
  assert.equal(checkDiskFull([]).ok, true);
  assert.equal(checkDiskFull([episode({}), episode({ role: 'follower', probeStatus: 307, probeMessage: 'NOT_LEADER' })]).ok, true);
  assert.equal(checkDiskFull([episode({ role: 'unreachable', probeStatus: 0, probeMessage: 'fetch failed', exits: [exit({})] })]).ok, true);
});

test('full disk: a serving member that exits, a non-JSON 500, no answer without cause, or no recovery fail', () => {
  const crashed = checkDiskFull([episode({ exits: [exit({ duringStartup: false })] })]);
  assert.equal(crashed.ok, false);
  assert.match(crashed.detail, /CRASHED/);
  assert.equal(checkDiskFull([episode({ probeStatus: 500, probeMessage: 'INTERNAL oops' })]).ok, false);
  assert.equal(checkDiskFull([episode({ probeStatus: 507, probeMessage: 'non-JSON body: <html>' })]).ok, false);
  assert.equal(checkDiskFull([episode({ probeStatus: 0, probeMessage: 'fetch failed' })]).ok, false);
  assert.equal(checkDiskFull([episode({ recoveredMs: -1 })]).ok, false);
});

test('no crash: only a start refused on a full disk with the reason in its output is excused', () => {
  assert.equal(checkNoCrash([]).ok, true);
  assert.equal(checkNoCrash([exit({})]).ok, true);
  for (const bad of [exit({ duringStartup: false }), exit({ diskFull: false }), exit({ logTail: 'raftkv: fatal: boom' }), exit({ code: null, signal: 'SIGSEGV' })]) {
    const r = checkNoCrash([bad]);
    assert.equal(r.ok, false, JSON.stringify(bad));
    assert.match(r.detail, /1 crash/);
  }
});
