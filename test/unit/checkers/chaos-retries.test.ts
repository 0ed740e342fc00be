// The chaos tier's end-of-run retry judge, shown to catch each way a promise can break (the
// planted 'idempotency-lapse' run in make test-chaos catches it on a real cluster too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeRetry, pickRetries } from '../../chaos/retries.js';
import type { KeyedWriteRecord, KeyedWriters } from '../../chaos/keyed-writers.js';

function rec(over: Partial<KeyedWriteRecord> = {}): KeyedWriteRecord {
  return { key: 'kw/0/1', value: 'v1', idemKey: 'k1', session: null, firstAtMs: 0, outcome: 'info', revision: null, status: null, code: null, replayRevisions: [], attempts: 1, ...over };
}
const stored = { value: 'v1', modRevision: 40, createRevision: 40 };

test('a retry of an applied write must replay its revision', () => {
  assert.equal(judgeRetry(rec(), stored, { status: 200, revision: 40, replayed: true, code: null }, undefined), null);
  assert.match(judgeRetry(rec(), stored, { status: 200, revision: 90, replayed: false, code: null }, undefined) ?? '', /not replayed/);
  assert.match(judgeRetry(rec(), stored, { status: 200, revision: 41, replayed: true, code: null }, undefined) ?? '', /answered rev 41/);
  assert.match(judgeRetry(rec(), stored, { status: 429, revision: null, replayed: false, code: 'IDEMPOTENCY_WINDOW_FULL' }, undefined) ?? '', /429/);
  assert.match(judgeRetry(rec({ outcome: 'ok', revision: 39 }), stored, { status: 200, revision: 40, replayed: true, code: null }, undefined) ?? '', /first answer rev 39/);
});

test('a retry of a write never applied applies it now or is refused loudly', () => {
  assert.equal(judgeRetry(rec(), undefined, { status: 200, revision: 50, replayed: false, code: null }, undefined), null);
  assert.equal(judgeRetry(rec(), undefined, { status: 429, revision: null, replayed: false, code: 'IDEMPOTENCY_WINDOW_FULL' }, undefined), null);
  assert.match(judgeRetry(rec({ outcome: 'ok', revision: 40 }), undefined, { status: 200, revision: 50, replayed: false, code: null }, undefined) ?? '', /absent/);
  assert.match(judgeRetry(rec({ idemKey: null, session: { id: '7', seq: 3 } }), undefined, { status: 410, revision: null, replayed: false, code: 'SESSION_UNKNOWN' }, 3) ?? '', /410/);
});

test('an older session number must be refused with 409', () => {
  const r = rec({ idemKey: null, session: { id: '7', seq: 2 }, outcome: 'ok', revision: 40 });
  assert.equal(judgeRetry(r, stored, { status: 409, revision: null, replayed: false, code: 'SESSION_SEQ_STALE' }, 5), null);
  assert.match(judgeRetry(r, stored, { status: 200, revision: 40, replayed: true, code: null }, 5) ?? '', /want 409/);
});

test('retries picked: every unknown one, the oldest acknowledged ones, nothing near the TTL', () => {
  const records = [
    rec({ key: 'a', firstAtMs: 0, outcome: 'info' }),
    rec({ key: 'b', firstAtMs: 1, outcome: 'ok', revision: 2 }),
    rec({ key: 'c', firstAtMs: 2, outcome: 'fail', status: 412 }),
    rec({ key: 'd', firstAtMs: 590_000, outcome: 'info' }),
  ];
  const writers = { records, lastSeqBySession: new Map<string, number>() } as unknown as KeyedWriters;
  // At 600 s the oldest are 30 s from a 630 s TTL: not judged.
  const late = pickRetries(writers, 600_010, 630_000);
  assert.deepEqual(late.picked.map((r) => r.key), ['d']);
  assert.equal(late.tooOld, 2);
  const early = pickRetries(writers, 1000, 600_000);
  assert.deepEqual(early.picked.map((r) => r.key).sort(), ['a', 'b', 'd']);
});
