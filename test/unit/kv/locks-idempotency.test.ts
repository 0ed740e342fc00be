import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failCode, Feeder, okKind } from './helpers.js';
import { idempotencyEntryBytes } from '../../../daemon/src/kv/index.js';

test('idempotent retry returns the first result and applies once', () => {
  const f = new Feeder();
  const first = okKind(f.put('k', 'v1', { idempotencyKey: 'req-1' }), 'put');
  assert.equal(first.replayed, false);
  f.put('other', 'x');
  const retry = okKind(f.put('k', 'v1', { idempotencyKey: 'req-1' }), 'put');
  assert.equal(retry.replayed, true);
  assert.deepEqual([retry.revision, retry.index, retry.term], [first.revision, first.index, first.term]);
  assert.equal(f.sm.revision, 2, 'the retry applied nothing');
  assert.equal(f.sm.get('k')?.version, 1);
  assert.equal(f.sm.appliedIndex, 3, 'but its index counts as applied');
  // A refusal is remembered too: the retry of a failed CAS fails the same way.
  const cas = failCode(f.put('k', 'v2', { ifMatch: 0, idempotencyKey: 'req-2' }), 'PreconditionFailed');
  const casRetry = failCode(f.put('k', 'v2', { ifMatch: 0, idempotencyKey: 'req-2' }), 'PreconditionFailed');
  assert.equal(casRetry.replayed, true);
  assert.equal(casRetry.index, cas.index);
  // A txn replays its outcome (revision, succeeded, which deletes removed a key); the values its
  // gets saw are not kept, and the replay says so.
  const tx = { op: 'txn', idempotencyKey: 'tx', compare: [], success: [{ put: { key: 'n', value: new Uint8Array([1, 2]) } }, { delete: { key: 'other' } }, { delete: { key: 'none' } }, { get: { key: 'k' } }], failure: [] } as const;
  const t = okKind(f.cmd(tx), 'txn');
  const tr = okKind(f.cmd(tx), 'txn');
  assert.equal(tr.replayed, true);
  assert.deepEqual([tr.succeeded, tr.revision, tr.index, tr.term], [t.succeeded, t.revision, t.index, t.term]);
  assert.deepEqual(tr.results.slice(0, 3), t.results.slice(0, 3));
  assert.deepEqual(tr.results[3], { type: 'get', key: 'k', kv: null, forgotten: true });
  assert.deepEqual(f.sm.get('n')?.value, new Uint8Array([1, 2]));
});

test('idempotency entries expire after idempotencyTtlMs of command clock', () => {
  const f = new Feeder({ limits: { idempotencyTtlMs: 1000 } });
  okKind(f.put('k', 'a', { idempotencyKey: 'r' }), 'put');
  f.nowMs += 999;
  assert.equal(okKind(f.put('k', 'a', { idempotencyKey: 'r' }), 'put').replayed, true);
  f.nowMs += 1;
  const again = okKind(f.put('k', 'a', { idempotencyKey: 'r' }), 'put');
  assert.equal(again.replayed, false, 'expired key applies anew');
  assert.equal(f.sm.revision, 2);
  // A leader with a slower clock does not revive expiry: the clock is monotone.
  f.nowMs -= 10_000;
  okKind(f.put('z', 'z'), 'put');
  assert.equal(f.sm.clockMs, f.nowMs + 10_000);
});

test('the idempotency window is bounded by bytes and never evicts a promise: a write past the budget is refused', () => {
  const perEntry = idempotencyEntryBytes('a');
  const f = new Feeder({ limits: { idempotencyBudgetBytes: 3 * perEntry, idempotencyTtlMs: 60_000 } });
  for (const id of ['a', 'b', 'c']) okKind(f.put('k', id, { idempotencyKey: id }), 'put');
  assert.equal(f.sm.idempotencyBytes, 3 * perEntry);
  f.nowMs += 10_000;
  const refused = failCode(f.put('k', 'd', { idempotencyKey: 'd' }), 'IdempotencyWindowFull');
  assert.equal(refused.retryAfterMs, 50_000, 'room comes when the oldest entry expires');
  assert.equal(f.sm.get('k')?.version, 3, 'the refused write applied nothing');
  for (const id of ['a', 'b', 'c']) assert.equal(okKind(f.put('k', id, { idempotencyKey: id }), 'put').replayed, true, `${id} is still promised`);
  // A write without a key is not limited by the window.
  okKind(f.put('k', 'plain'), 'put');
  f.nowMs += 50_000;
  assert.equal(okKind(f.put('k', 'd', { idempotencyKey: 'd' }), 'put').replayed, false, 'the expired entries made room');
  assert.equal(f.sm.idempotencyEntries, 1);
  assert.equal(f.sm.exactlyOnceStats().idempotencyRefusedTotal, 1);
  assert.equal(f.sm.exactlyOnceStats().idempotencyExpiredTotal, 3);
});

test('locks: acquire, 409 for another owner, refresh, expiry, release', () => {
  const f = new Feeder();
  const l1 = okKind(f.cmd({ op: 'lockAcquire', name: 'L', owner: 'A', ttlMs: 1000 }), 'lock');
  assert.equal(l1.token, f.index, 'token is the raft index of the acquiring entry');
  assert.equal(l1.owner, 'A');
  const held = failCode(f.cmd({ op: 'lockAcquire', name: 'L', owner: 'B', ttlMs: 1000 }), 'LockHeld');
  assert.equal(held.holder, 'A');
  f.nowMs += 900;
  const refresh = okKind(f.cmd({ op: 'lockAcquire', name: 'L', owner: 'A', ttlMs: 1000 }), 'lock');
  assert.equal(refresh.token, l1.token, 'refresh keeps the token');
  f.nowMs += 900;
  failCode(f.cmd({ op: 'lockAcquire', name: 'L', owner: 'B', ttlMs: 1000 }), 'LockHeld');
  f.nowMs += 100; // now 1000 after the refresh: expired
  const l2 = okKind(f.cmd({ op: 'lockAcquire', name: 'L', owner: 'B', ttlMs: 1000 }), 'lock');
  assert.ok(l2.token > l1.token);
  failCode(f.cmd({ op: 'lockRelease', name: 'L', token: l1.token }), 'BadToken');
  okKind(f.cmd({ op: 'lockRelease', name: 'L', token: l2.token }), 'unlock');
  failCode(f.cmd({ op: 'lockRelease', name: 'L', token: l2.token }), 'LockNotHeld');
  const l3 = okKind(f.cmd({ op: 'lockAcquire', name: 'L', owner: 'A', ttlMs: 1000 }), 'lock');
  assert.ok(l3.token > l2.token, 'tokens only grow for a name');
});

test('fencing: a partitioned old holder is refused after a new holder acquired', () => {
  const f = new Feeder();
  const a = okKind(f.cmd({ op: 'lockAcquire', name: 'leader', owner: 'A', ttlMs: 1000 }), 'lock');
  okKind(f.put('cfg', 'from A', { fencing: { lock: 'leader', token: a.token } }), 'put');
  // A is partitioned; its lease runs out and B takes over.
  f.nowMs += 1500;
  const b = okKind(f.cmd({ op: 'lockAcquire', name: 'leader', owner: 'B', ttlMs: 1000 }), 'lock');
  okKind(f.put('cfg', 'from B', { fencing: { lock: 'leader', token: b.token } }), 'put');
  // A's delayed write arrives.
  const stale = failCode(f.put('cfg', 'late A', { fencing: { lock: 'leader', token: a.token } }), 'StaleFencingToken');
  assert.match(stale.message, /stale/);
  failCode(f.del('cfg', { fencing: { lock: 'leader', token: a.token } }), 'StaleFencingToken');
  failCode(f.cmd({ op: 'txn', fencing: { lock: 'leader', token: a.token }, compare: [], success: [{ delete: { key: 'cfg' } }], failure: [] }), 'StaleFencingToken');
  failCode(f.put('cfg', 'future', { fencing: { lock: 'leader', token: b.token + 1 } }), 'StaleFencingToken');
  failCode(f.put('cfg', 'nolock', { fencing: { lock: 'other', token: 1 } }), 'StaleFencingToken');
  assert.equal(new TextDecoder().decode(f.sm.get('cfg')?.value), 'from B');
  // Once B's lock expires even B's token is refused.
  f.nowMs += 1000;
  failCode(f.put('cfg', 'expired B', { fencing: { lock: 'leader', token: b.token } }), 'StaleFencingToken');
});

test('maxLocks bounds the table; expired locks are reclaimed', () => {
  const f = new Feeder({ limits: { maxLocks: 2 } });
  okKind(f.cmd({ op: 'lockAcquire', name: 'a', owner: 'o', ttlMs: 1000 }), 'lock');
  okKind(f.cmd({ op: 'lockAcquire', name: 'b', owner: 'o', ttlMs: 5000 }), 'lock');
  failCode(f.cmd({ op: 'lockAcquire', name: 'c', owner: 'o', ttlMs: 1000 }), 'TooManyLocks');
  f.nowMs += 1000;
  okKind(f.cmd({ op: 'lockAcquire', name: 'c', owner: 'o', ttlMs: 1000 }), 'lock');
  assert.equal(f.sm.lockCount, 2);
});
