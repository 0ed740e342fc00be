import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvStateMachine } from '../../../daemon/src/kv/index.js';
import { dec, enc, failCode, Feeder, okKind } from './helpers.js';

test('put/get/delete with revisions, versions, create revisions', () => {
  const f = new Feeder();
  assert.equal(f.sm.revision, 0);
  assert.equal(f.sm.get('a'), null);
  assert.equal(okKind(f.put('a', '1'), 'put').revision, 1);
  const r2 = okKind(f.put('a', '2'), 'put');
  assert.deepEqual([r2.revision, r2.index, r2.term], [2, 2, 1]);
  okKind(f.put('b', 'x'), 'put');
  const a = f.sm.get('a');
  assert.ok(a);
  assert.equal(dec(a.value), '2');
  assert.deepEqual([a.createRevision, a.modRevision, a.version], [1, 2, 2]);
  const d = okKind(f.del('a'), 'delete');
  assert.deepEqual([d.deleted, d.revision], [true, 4]);
  assert.equal(f.sm.get('a'), null);
  const d2 = okKind(f.del('a'), 'delete');
  assert.deepEqual([d2.deleted, d2.revision], [false, 4], 'deleting an absent key does not bump the revision');
  okKind(f.put('a', '3'), 'put');
  const a2 = f.sm.get('a');
  assert.deepEqual([a2?.createRevision, a2?.modRevision, a2?.version], [5, 5, 1], 'recreated key starts a new life');
  assert.equal(f.sm.appliedIndex, 6);
});

test('applyNoop, AlreadyApplied and garbage keep appliedIndex exact', () => {
  const f = new Feeder();
  okKind(f.put('a', '1'), 'put');
  f.index++;
  f.sm.applyNoop(f.index, 2);
  assert.equal(f.sm.appliedIndex, 2);
  assert.equal(f.sm.appliedTerm, 2);
  const g = failCode(f.raw(new Uint8Array([1, 2, 3])), 'InvalidCommand');
  assert.equal(g.index, 3);
  assert.equal(f.sm.appliedIndex, 3);
  failCode(f.sm.apply(2, 1, new Uint8Array(0)), 'AlreadyApplied');
  assert.equal(f.sm.appliedIndex, 3);
  assert.equal(f.sm.revision, 1);
});

test('prefix range is sorted, limited, reports more', () => {
  const f = new Feeder();
  for (const k of ['b/3', 'a/1', 'b/1', 'c', 'b/2', 'b', 'b0']) f.put(k, k);
  const all = f.sm.range('b/', 0);
  assert.deepEqual(all.kvs.map((e) => e.key), ['b/1', 'b/2', 'b/3']);
  assert.equal(all.more, false);
  assert.equal(all.revision, 7);
  const page = f.sm.range('b', 2);
  assert.deepEqual(page.kvs.map((e) => e.key), ['b', 'b/1']);
  assert.equal(page.more, true);
  const exact = f.sm.range('b', 5);
  assert.deepEqual(exact.kvs.map((e) => e.key), ['b', 'b/1', 'b/2', 'b/3', 'b0']);
  assert.equal(exact.more, false);
  assert.equal(f.sm.range('', 100).kvs.length, 7);
  f.del('b/2');
  assert.deepEqual(f.sm.range('b/', 10).kvs.map((e) => e.key), ['b/1', 'b/3']);
  assert.deepEqual(f.sm.range('zz', 10).kvs, []);
});

test('paging with after: each page starts past the last key of the one before, whole prefix covered once', () => {
  const f = new Feeder();
  for (const k of ['b/3', 'a/1', 'b/1', 'c', 'b/2', 'b', 'b0']) f.put(k, k);
  const first = f.sm.range('b', 2);
  const second = f.sm.range('b', 2, first.kvs[1]?.key);
  assert.deepEqual(second.kvs.map((e) => e.key), ['b/2', 'b/3']);
  assert.equal(second.more, true);
  const third = f.sm.range('b', 2, 'b/3');
  assert.deepEqual(third.kvs.map((e) => e.key), ['b0']);
  assert.equal(third.more, false);
  // An `after` that is not a key, or sorts before the prefix, or past it.
  assert.deepEqual(f.sm.range('b', 10, 'b/15').kvs.map((e) => e.key), ['b/2', 'b/3', 'b0']);
  assert.deepEqual(f.sm.range('b/', 10, 'a').kvs.map((e) => e.key), ['b/1', 'b/2', 'b/3']);
  assert.deepEqual(f.sm.range('b', 10, 'zz').kvs, []);
  assert.deepEqual(f.sm.range('', 100, 'b0').kvs.map((e) => e.key), ['c']);
});

test('range stays correct over many random inserts and deletes', () => {
  const f = new Feeder();
  const model = new Set<string>();
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    const k = `p${rnd(5)}/${rnd(200)}`;
    if (rnd(3) === 0) {
      f.del(k);
      model.delete(k);
    } else {
      f.put(k, 'v');
      model.add(k);
    }
  }
  const want = [...model].filter((k) => k.startsWith('p3/')).sort();
  assert.deepEqual(f.sm.range('p3/', 100000).kvs.map((e) => e.key), want);
  assert.equal(f.sm.size, model.size);
});

test('If-Match: 0 means must not exist; mismatch is PreconditionFailed and changes nothing', () => {
  const f = new Feeder();
  okKind(f.put('k', 'v1', { ifMatch: 0 }), 'put');
  const fail = failCode(f.put('k', 'v2', { ifMatch: 0 }), 'PreconditionFailed');
  assert.equal(fail.currentModRevision, 1);
  failCode(f.put('k', 'v2', { ifMatch: 7 }), 'PreconditionFailed');
  assert.equal(f.sm.revision, 1);
  assert.equal(dec(f.sm.get('k')?.value ?? enc('')), 'v1');
  okKind(f.put('k', 'v2', { ifMatch: 1 }), 'put');
  failCode(f.del('k', { ifMatch: 1 }), 'PreconditionFailed');
  assert.equal(okKind(f.del('k', { ifMatch: 2 }), 'delete').deleted, true);
});

test('txn: compare targets, ops, shared revision, failure branch', () => {
  const f = new Feeder();
  f.put('a', 'm');
  f.put('b', 'x');
  const t = okKind(
    f.cmd({
      op: 'txn',
      compare: [
        { key: 'a', target: 'value', op: '=', value: enc('m') },
        { key: 'a', target: 'value', op: '>', value: enc('l') },
        { key: 'a', target: 'value', op: '<', value: enc('mm') },
        { key: 'b', target: 'modRevision', op: '=', value: 2 },
        { key: 'zz', target: 'modRevision', op: '=', value: 0 },
        { key: 'zz', target: 'exists', op: '=', value: false },
        { key: 'a', target: 'exists', op: '!=', value: false },
        { key: 'zz', target: 'value', op: '!=', value: enc('q') },
      ],
      success: [{ put: { key: 'c', value: enc('1') } }, { put: { key: 'a', value: enc('n') } }, { delete: { key: 'b' } }, { delete: { key: 'nope' } }, { get: { key: 'c' } }],
      failure: [],
    }),
    'txn',
  );
  assert.equal(t.succeeded, true);
  assert.equal(t.revision, 3);
  assert.deepEqual(
    t.results.map((r) => (r.type === 'get' ? [r.type, r.key, r.kv?.modRevision] : r.type === 'put' ? [r.type, r.key, r.revision] : [r.type, r.key, r.deleted])),
    [
      ['put', 'c', 3],
      ['put', 'a', 3],
      ['delete', 'b', true],
      ['delete', 'nope', false],
      ['get', 'c', 3],
    ],
  );
  assert.equal(f.sm.get('a')?.modRevision, 3);
  assert.equal(f.sm.get('b'), null);
  const t2 = okKind(
    f.cmd({ op: 'txn', compare: [{ key: 'zz', target: 'value', op: '=', value: enc('') }], success: [{ put: { key: 'x', value: enc('1') } }], failure: [{ get: { key: 'a' } }] }),
    'txn',
  );
  assert.equal(t2.succeeded, false);
  assert.equal(t2.revision, 3, 'read-only branch does not bump the revision');
  const g = t2.results[0];
  assert.ok(g && g.type === 'get' && g.kv !== null && dec(g.kv.value) === 'n');
  assert.equal(f.sm.get('x'), null);
});

test('two machines fed the same commands have the same hash; different ones do not', () => {
  const f = new Feeder();
  for (let i = 0; i < 200; i++) f.put(`k${i % 37}`, `v${i}`);
  f.del('k3');
  f.cmd({ op: 'lockAcquire', name: 'L', owner: 'o', ttlMs: 1000 });
  const other = new KvStateMachine({ scheduleWatchFlush: () => {} });
  for (const e of f.log) other.apply(e.index, e.term, e.data);
  assert.equal(other.hash(), f.sm.hash());
  assert.equal(other.revision, f.sm.revision);
  assert.match(f.sm.hash(), /^[0-9a-f]{64}$/);
  f.put('k1', 'changed');
  assert.notEqual(other.hash(), f.sm.hash());
});
