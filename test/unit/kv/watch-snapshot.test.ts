import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvError, KvSnapshotError, KvStateMachine, type WatchEvent } from '../../../daemon/src/kv/index.js';
import { dec, Feeder, okKind } from './helpers.js';

const summary = (evs: WatchEvent[]): string[] => evs.map((e) => `${e.type}:${e.key}:${dec(e.value)}@${e.revision}`);

test('watch from a past revision replays then follows, filtered by prefix', () => {
  const f = new Feeder();
  f.put('a/1', 'x'); // rev 1
  f.put('b/1', 'y'); // rev 2
  f.put('a/2', 'z'); // rev 3
  const got: WatchEvent[] = [];
  const sub = f.sm.watch('a/', 2, { onEvent: (e) => void got.push(e) });
  f.sm.watchHub.flush();
  assert.deepEqual(summary(got), ['put:a/2:z@3']);
  f.del('a/1'); // rev 4
  f.cmd({ op: 'txn', compare: [], success: [{ put: { key: 'a/3', value: new TextEncoder().encode('t') } }, { put: { key: 'b/9', value: new Uint8Array() } }], failure: [] }); // rev 5
  f.sm.watchHub.flush();
  assert.deepEqual(summary(got), ['put:a/2:z@3', 'delete:a/1:@4', 'put:a/3:t@5']);
  sub.cancel();
  f.put('a/4', 'q');
  f.sm.watchHub.flush();
  assert.equal(got.length, 3);
  assert.equal(sub.closed, true);
});

test('watch from now and from a future revision', () => {
  const f = new Feeder();
  f.put('k', '1');
  const now: WatchEvent[] = [];
  const future: WatchEvent[] = [];
  f.sm.watch('', 0, { onEvent: (e) => void now.push(e) });
  f.sm.watch('', 4, { onEvent: (e) => void future.push(e) });
  f.put('k', '2');
  f.put('k', '3');
  f.put('k', '4');
  f.sm.watchHub.flush();
  assert.deepEqual(now.map((e) => e.revision), [2, 3, 4]);
  assert.deepEqual(future.map((e) => e.revision), [4]);
});

test('resume after a disconnect from the last seen revision + 1 loses nothing', () => {
  const f = new Feeder();
  const got: WatchEvent[] = [];
  const s1 = f.sm.watch('', 1, { onEvent: (e) => void got.push(e) });
  f.put('a', '1');
  f.put('b', '2');
  f.sm.watchHub.flush();
  s1.cancel();
  f.put('c', '3');
  f.put('d', '4');
  const last = got[got.length - 1]?.revision ?? 0;
  f.sm.watch('', last + 1, { onEvent: (e) => void got.push(e) });
  f.sm.watchHub.flush();
  assert.deepEqual(got.map((e) => e.key), ['a', 'b', 'c', 'd']);
});

test('a revision older than the retained history is Compacted', () => {
  const f = new Feeder({ limits: { maxWatchHistoryEvents: 4 } });
  for (let i = 0; i < 10; i++) f.put(`k${i}`, 'v');
  assert.throws(
    () => f.sm.watch('', 3, { onEvent: () => {} }),
    (e: unknown) => e instanceof KvError && e.code === 'Compacted',
  );
  const got: WatchEvent[] = [];
  f.sm.watch('', 7, { onEvent: (e) => void got.push(e) });
  f.sm.watchHub.flush();
  assert.deepEqual(got.map((e) => e.revision), [7, 8, 9, 10]);
});

test('a slow (paused) subscriber is closed with a reason; others keep going', () => {
  const f = new Feeder({ limits: { maxWatchSubscriberBufferedEvents: 5 } });
  const closed: string[] = [];
  let slowCount = 0;
  const slow = f.sm.watch('', 0, { onEvent: () => (slowCount++, false), onClose: (reason, msg) => closed.push(`${reason}: ${msg}`) });
  const fast: WatchEvent[] = [];
  f.sm.watch('', 0, { onEvent: (e) => void fast.push(e) });
  f.put('a', '1');
  f.sm.watchHub.flush();
  assert.equal(slowCount, 1, 'paused after the first event');
  for (let i = 0; i < 10; i++) f.put('a', String(i));
  f.sm.watchHub.flush();
  assert.equal(slow.closed, true);
  assert.equal(closed.length, 1);
  assert.match(closed[0] ?? '', /^slow/);
  assert.equal(fast.length, 11);
  assert.equal(f.sm.watchHub.subscriberCount, 1);
});

test('a paused subscriber that resumes in time gets everything in order', () => {
  const f = new Feeder({ limits: { maxWatchSubscriberBufferedEvents: 100 } });
  const got: number[] = [];
  let pause = true;
  const s = f.sm.watch('', 0, { onEvent: (e) => (got.push(e.revision), !pause) });
  for (let i = 0; i < 5; i++) f.put('a', String(i));
  f.sm.watchHub.flush();
  assert.deepEqual(got, [1]);
  pause = false;
  s.resume();
  f.sm.watchHub.flush();
  assert.deepEqual(got, [1, 2, 3, 4, 5]);
});

test('watch flushes off the apply path with the default scheduler', async () => {
  const sm = new KvStateMachine();
  const got: WatchEvent[] = [];
  sm.watch('', 0, { onEvent: (e) => void got.push(e) });
  const f = new Feeder();
  f.put('x', '1');
  const entry = f.log[0];
  assert.ok(entry);
  sm.apply(entry.index, entry.term, entry.data);
  assert.equal(got.length, 0, 'apply does not call subscribers synchronously');
  await new Promise((r) => setImmediate(r));
  assert.equal(got.length, 1);
});

test('snapshot/restore reproduces data, hash, locks, idempotency, applied index', () => {
  const f = new Feeder();
  for (let i = 0; i < 100; i++) f.put(`k/${i % 13}`, `v${i}`, i % 10 === 0 ? { idempotencyKey: `id${i}` } : {});
  f.del('k/5');
  const lock = okKind(f.cmd({ op: 'lockAcquire', name: 'L', owner: 'A', ttlMs: 10_000 }), 'lock');
  const img = f.sm.snapshot();
  const r = new KvStateMachine({ scheduleWatchFlush: () => {} });
  r.restore(img);
  assert.equal(r.hash(), f.sm.hash());
  assert.deepEqual([r.appliedIndex, r.appliedTerm, r.revision, r.clockMs], [f.sm.appliedIndex, f.sm.appliedTerm, f.sm.revision, f.sm.clockMs]);
  assert.deepEqual(r.snapshot(), img, 'snapshot of the restored machine is byte-identical');
  assert.deepEqual(r.range('k/', 100), f.sm.range('k/', 100));
  assert.deepEqual(r.lock('L'), f.sm.lock('L'));
  // Both continue identically, including idempotent replays and fencing.
  const next = [
    { op: 'put', key: 'k/1', value: new Uint8Array([1]), idempotencyKey: 'id10', proposedAtMs: f.nowMs },
    { op: 'put', key: 'k/2', value: new Uint8Array([2]), fencing: { lock: 'L', token: lock.token }, proposedAtMs: f.nowMs },
  ] as const;
  const before = f.index;
  for (const c of next) {
    f.cmd(c);
  }
  for (const e of f.log.filter((e) => e.index > before)) {
    const res = r.apply(e.index, e.term, e.data);
    assert.equal(res.ok, true);
  }
  assert.equal(r.hash(), f.sm.hash());
  assert.equal(r.get('k/1')?.version, f.sm.get('k/1')?.version);
});

test('restore rejects a corrupt image and leaves the state unchanged', () => {
  const f = new Feeder();
  f.put('a', '1');
  const img = f.sm.snapshot();
  const target = new Feeder();
  target.put('keep', 'me');
  const h = target.sm.hash();
  for (const bad of [img.subarray(0, img.length - 1), new Uint8Array([1, 2, 3]), new Uint8Array(0)]) {
    assert.throws(() => target.sm.restore(bad), KvSnapshotError);
  }
  assert.equal(target.sm.hash(), h);
});

test('restore closes watchers and compacts older revisions', () => {
  const f = new Feeder();
  for (let i = 0; i < 5; i++) f.put('a', String(i));
  const other = new Feeder();
  const reasons: string[] = [];
  other.sm.watch('', 0, { onEvent: () => {}, onClose: (r) => reasons.push(r) });
  other.sm.restore(f.sm.snapshot());
  assert.deepEqual(reasons, ['reset']);
  assert.throws(() => other.sm.watch('', 5, { onEvent: () => {} }), KvError);
  const got: number[] = [];
  other.sm.watch('', 6, { onEvent: (e) => void got.push(e.revision) });
  other.index = f.index;
  other.nowMs = f.nowMs;
  other.put('a', 'x');
  other.sm.watchHub.flush();
  assert.deepEqual(got, [6]);
});
