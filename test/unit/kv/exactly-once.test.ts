// The exactly-once promises of the state machine: the idempotency window (byte budget, never an
// eviction, expiry on the command clock, stamped budgets) and client sessions (dissertation
// §6.3), across snapshots (current and version-1 images), restarts and leader changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteWriter } from '../../../daemon/src/kv/bytes.js';
import { encodeApplyResult } from '../../../daemon/src/kv/results.js';
import { idempotencyEntryBytes, KvStateMachine, type ApplyResult } from '../../../daemon/src/kv/index.js';
import { enc, failCode, Feeder, okKind } from './helpers.js';

function openSession(f: Feeder, maxSessions = 100): number {
  return okKind(f.cmd({ op: 'sessionOpen', maxSessions }), 'session').id;
}

function replayInto(f: Feeder, upTo = Infinity): KvStateMachine {
  const sm = new KvStateMachine({ limits: f.sm.limits, scheduleWatchFlush: () => {} });
  for (const e of f.log) if (e.index <= upTo) sm.apply(e.index, e.term, e.data);
  return sm;
}

test('a session applies each sequence number once, replays the last one, refuses older ones with StaleSessionSeq', () => {
  const f = new Feeder();
  const id = openSession(f);
  assert.equal(id, f.index, 'the id is the raft index of the open entry');
  const first = okKind(f.put('k', 'a', { session: { id, seq: 1 } }), 'put');
  const retry = okKind(f.put('k', 'a', { session: { id, seq: 1 } }), 'put');
  assert.equal(retry.replayed, true);
  assert.deepEqual([retry.revision, retry.index, retry.term], [first.revision, first.index, first.term]);
  assert.equal(f.sm.get('k')?.version, 1, 'the retry applied nothing');
  okKind(f.put('k', 'b', { session: { id, seq: 2 } }), 'put');
  failCode(f.put('k', 'late duplicate of 1', { session: { id, seq: 1 } }), 'StaleSessionSeq');
  assert.equal(f.sm.get('k')?.version, 2);
  // Gaps are allowed (a client may give up on a number); a refusal is remembered as the answer.
  const cas = failCode(f.put('k', 'c', { session: { id, seq: 7 }, ifMatch: 0 }), 'PreconditionFailed');
  const casRetry = failCode(f.put('k', 'c', { session: { id, seq: 7 }, ifMatch: 0 }), 'PreconditionFailed');
  assert.equal(casRetry.replayed, true);
  assert.equal(casRetry.currentModRevision, cas.currentModRevision);
  // Sessioned writes take no room in the idempotency window.
  assert.equal(f.sm.idempotencyEntries, 0);
});

test('an unknown, closed or expired session is refused and applies nothing; expiry follows the command clock', () => {
  const f = new Feeder({ limits: { sessionTtlMs: 1000 } });
  failCode(f.put('k', 'x', { session: { id: 12345, seq: 1 } }), 'UnknownSession');
  const a = openSession(f);
  const b = openSession(f);
  f.nowMs += 999;
  okKind(f.put('k', 'x', { session: { id: a, seq: 1 } }), 'put');
  f.nowMs += 1;
  failCode(f.put('k', 'y', { session: { id: b, seq: 1 } }), 'UnknownSession');
  assert.equal(f.sm.sessionCount, 1, 'b expired; a was used 1 ms ago');
  assert.equal(okKind(f.cmd({ op: 'sessionClose', id: a }), 'sessionClosed').closed, true);
  failCode(f.put('k', 'z', { session: { id: a, seq: 2 } }), 'UnknownSession');
  assert.equal(f.sm.get('k')?.version, 1);
  assert.equal(f.sm.exactlyOnceStats().sessionsExpiredTotal, 1);
  // A slower clock on a new leader does not revive anything.
  f.nowMs -= 60_000;
  failCode(f.put('k', 'z', { session: { id: b, seq: 1 } }), 'UnknownSession');
});

test('session opens are bounded by the stamped maxSessions', () => {
  const f = new Feeder();
  openSession(f, 2);
  openSession(f, 2);
  failCode(f.cmd({ op: 'sessionOpen', maxSessions: 2 }), 'TooManySessions');
  openSession(f, 3);
  assert.equal(f.sm.sessionCount, 3);
  assert.equal(f.sm.exactlyOnceStats().sessionsRefusedTotal, 1);
});

test('budget refusal never evicts: fill the window past its budget, every earlier key still replays', () => {
  const keys = Array.from({ length: 500 }, (_, i) => `key-${i.toString().padStart(4, '0')}`);
  const budget = keys.slice(0, 300).reduce((n, k) => n + idempotencyEntryBytes(k), 0);
  const f = new Feeder({ limits: { idempotencyTtlMs: 60_000 } });
  let refused = 0;
  for (const k of keys) {
    f.nowMs += 10;
    const r = f.put(`data/${k}`, k, { idempotencyKey: k, idempotencyBudgetBytes: budget });
    if (!r.ok) {
      assert.equal(r.code, 'IdempotencyWindowFull');
      refused++;
    }
  }
  assert.equal(refused, 200);
  assert.ok(f.sm.idempotencyBytes <= budget, 'the window never holds more than its budget');
  assert.equal(f.sm.size, 300, 'refused writes applied nothing');
  // A txn is charged the most its answer can cost, so the budget holds with deletes too.
  const txBudget = idempotencyEntryBytes('t1') + idempotencyEntryBytes('t2') + 64 + 16;
  const g = new Feeder();
  const del = { op: 'txn', compare: [], success: [{ delete: { key: 'x' } }], failure: [] } as const;
  okKind(g.cmd({ ...del, idempotencyKey: 't1', idempotencyBudgetBytes: txBudget }), 'txn');
  failCode(g.cmd({ ...del, idempotencyKey: 't2', idempotencyBudgetBytes: txBudget }), 'IdempotencyWindowFull');
  assert.ok(g.sm.idempotencyBytes <= txBudget);
  for (const k of keys.slice(0, 300)) assert.equal(okKind(f.put(`data/${k}`, 'again', { idempotencyKey: k, idempotencyBudgetBytes: budget }), 'put').replayed, true, k);
  for (const k of keys.slice(0, 300)) assert.equal(f.sm.get(`data/${k}`)?.version, 1);
});

test('the budget that judges a keyed write is the one stamped in it, so members with different flags agree', () => {
  const f = new Feeder({ limits: { idempotencyBudgetBytes: 1 } });
  const per = idempotencyEntryBytes('a');
  okKind(f.put('k', 'a', { idempotencyKey: 'a', idempotencyBudgetBytes: 2 * per }), 'put');
  okKind(f.put('k', 'b', { idempotencyKey: 'b', idempotencyBudgetBytes: 2 * per }), 'put');
  failCode(f.put('k', 'c', { idempotencyKey: 'c', idempotencyBudgetBytes: 2 * per }), 'IdempotencyWindowFull');
  // An unstamped command (a log from before the stamps) is judged by the machine's own limit.
  failCode(f.put('k', 'd', { idempotencyKey: 'd' }), 'IdempotencyWindowFull');
  const other = new KvStateMachine({ limits: { idempotencyBudgetBytes: 1 << 30 }, scheduleWatchFlush: () => {} });
  const results: ApplyResult[] = [];
  for (const e of f.log.slice(0, 3)) results.push(other.apply(e.index, e.term, e.data));
  assert.deepEqual(results.map((r) => r.ok), [true, true, false], 'a member with a larger flag applies the stamped log the same way');
  assert.equal(other.hash(), replayInto(f, 3).hash());
});

test('snapshot/restore carries the window and the sessions: retries after a restart replay, expiry goes on', () => {
  const f = new Feeder({ limits: { idempotencyTtlMs: 10_000, sessionTtlMs: 10_000 } });
  const sid = openSession(f);
  okKind(f.put('a', '1', { idempotencyKey: 'k1' }), 'put');
  f.nowMs += 5000;
  const t = okKind(f.cmd({ op: 'txn', session: { id: sid, seq: 1 }, compare: [], success: [{ put: { key: 'b', value: enc('2') } }, { delete: { key: 'a' } }], failure: [] }), 'txn');
  okKind(f.put('c', '3', { idempotencyKey: 'k2' }), 'put');
  const img = f.sm.snapshot();
  const r = new KvStateMachine({ limits: f.sm.limits, scheduleWatchFlush: () => {} });
  r.restore(img);
  assert.deepEqual(r.snapshot(), img, 'byte-identical after a round trip');
  assert.deepEqual(r.exactlyOnceStats().idempotencyBytes, f.sm.exactlyOnceStats().idempotencyBytes);
  // The retries, as a restarted member applies them from the log after its snapshot.
  f.nowMs += 1000;
  const before = f.index;
  const retries = [
    f.put('a', '1', { idempotencyKey: 'k1' }),
    f.cmd({ op: 'txn', session: { id: sid, seq: 1 }, compare: [], success: [{ put: { key: 'b', value: enc('2') } }, { delete: { key: 'a' } }], failure: [] }),
  ];
  const fromSnapshot = f.log.filter((e) => e.index > before).map((e) => r.apply(e.index, e.term, e.data));
  assert.deepEqual(fromSnapshot, retries);
  assert.equal(fromSnapshot.every((x) => x.replayed), true);
  const tr = okKind(fromSnapshot[1] as ApplyResult, 'txn');
  assert.deepEqual(tr.results, t.results, 'the txn replay rebuilds put revisions and delete outcomes');
  // A member restarted without a snapshot replays the whole log to the same state.
  assert.equal(replayInto(f).hash(), r.hash());
  assert.deepEqual(replayInto(f).snapshot(), r.snapshot());
  // Expiry after restore is the same clock rule: k1 (recorded at t0) goes at t0+10 s.
  f.nowMs += 4000;
  const after = f.index;
  f.put('z', 'z');
  for (const e of f.log.filter((e) => e.index > after)) r.apply(e.index, e.term, e.data);
  assert.equal(r.idempotencyEntries, 1, 'k1 expired, k2 (recorded 5 s later) is still promised');
  assert.equal(r.sessionCount, 1, 'the session was used 5 s ago');
});

test('a retry proposed by a new leader (next term, slower clock, smaller budget) is answered from the first', () => {
  const f = new Feeder();
  const sid = openSession(f);
  const first = okKind(f.put('k', 'v', { idempotencyKey: 'req' }), 'put');
  const firstS = okKind(f.put('s', 'v', { session: { id: sid, seq: 1 } }), 'put');
  f.term = 2;
  f.nowMs -= 3000;
  const retry = okKind(f.put('k', 'v', { idempotencyKey: 'req', idempotencyBudgetBytes: 1 }), 'put');
  const retryS = okKind(f.put('s', 'v', { session: { id: sid, seq: 1 } }), 'put');
  assert.deepEqual([retry.replayed, retry.index, retry.term, retry.revision], [true, first.index, 1, first.revision]);
  assert.deepEqual([retryS.replayed, retryS.index, retryS.term], [true, firstS.index, 1]);
  assert.equal(f.sm.revision, 2);
});

test('a version-1 snapshot image (whole encoded results, no sessions) is still read', () => {
  const w = new ByteWriter(256);
  w.u32(0x4b56534d).u8(1);
  w.f64(9).f64(2).f64(3).f64(1_000_000);
  w.u32(1).str('k').bytes(enc('v')).f64(1).f64(3).f64(3);
  w.u32(0);
  w.u32(2);
  w.str('id-put').f64(999_000).bytes(encodeApplyResult({ ok: true, kind: 'put', revision: 3, index: 8, term: 2, replayed: false }));
  w.str('id-txn').f64(999_500).bytes(encodeApplyResult({ ok: true, kind: 'txn', succeeded: true, revision: 3, index: 9, term: 2, replayed: false, results: [{ type: 'get', key: 'k', kv: { key: 'k', value: enc('v'), createRevision: 1, modRevision: 3, version: 3 } }] }));
  const sm = new KvStateMachine({ scheduleWatchFlush: () => {} });
  sm.restore(w.finish());
  assert.equal(sm.idempotencyEntries, 2);
  assert.equal(sm.sessionCount, 0);
  const f = new Feeder();
  const put = encodeCmd({ op: 'put', key: 'k', value: enc('other'), idempotencyKey: 'id-put', proposedAtMs: 1_000_000 });
  const replay = okKind(sm.apply(10, 2, put), 'put');
  assert.deepEqual([replay.replayed, replay.index, replay.revision], [true, 8, 3]);
  assert.equal(sm.get('k')?.version, 3);
  const txn = okKind(sm.apply(11, 2, encodeCmd({ op: 'txn', idempotencyKey: 'id-txn', compare: [], success: [{ get: { key: 'k' } }], failure: [], proposedAtMs: 1_000_000 })), 'txn');
  assert.deepEqual(txn.results, [{ type: 'get', key: 'k', kv: null, forgotten: true }]);
  assert.equal(f.sm.revision, 0);
  // Written back as version 2 and read again, nothing changes.
  const again = new KvStateMachine({ scheduleWatchFlush: () => {} });
  again.restore(sm.snapshot());
  assert.deepEqual(again.snapshot(), sm.snapshot());
});

test('a snapshot image that repeats a session is refused, state unchanged', () => {
  const f = new Feeder();
  openSession(f);
  openSession(f);
  const img = f.sm.snapshot();
  // Each session record is f64 id, f64 lastSeq, f64 lastActiveMs, u8 (no answer) = 25 bytes; copy the last over the one before.
  const rec = 25;
  const bad = img.slice();
  bad.set(img.subarray(img.length - rec), img.length - 2 * rec);
  const sm = new KvStateMachine({ scheduleWatchFlush: () => {} });
  sm.restore(img);
  assert.throws(() => sm.restore(bad), /repeated/);
  assert.deepEqual(sm.snapshot(), img);
});

import { encodeCommand, type KvCommand } from '../../../daemon/src/kv/index.js';
function encodeCmd(c: KvCommand): Uint8Array {
  return encodeCommand(c);
}
