import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../../operator/src/kube/workqueue.js';

test('a key is queued once and never handed to two workers at once', async () => {
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100, maxKeys: 10 });
  q.add('a');
  q.add('a');
  q.add('b');
  assert.equal(q.length, 2);
  const k1 = await q.get();
  assert.equal(k1, 'a');
  q.add('a'); // while processing: deferred, not handed out
  assert.equal(await q.get(), 'b');
  let third: string | undefined = 'pending';
  const p = q.get().then((k) => { third = k; });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(third, 'pending', 'a is still being processed');
  q.done('a');
  await p;
  assert.equal(third, 'a', 're-added during processing → queued again after done');
  q.shutDown();
  assert.equal(await q.get(), undefined);
});

test('per-key exponential backoff, capped, reset by forget', () => {
  const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 500, maxKeys: 10 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => q.addRateLimited('x')), [100, 200, 400, 500, 500]);
  assert.equal(q.addRateLimited('y'), 100, 'other keys have their own backoff');
  q.forget('x');
  assert.equal(q.addRateLimited('x'), 100);
  q.shutDown();
});

test('addAfter delivers later; maxKeys bounds the queue and counts drops', async () => {
  // The queue's timers are unref'd (they must not keep an operator alive); this one keeps the test alive.
  const keepAlive = setTimeout(() => undefined, 2000);
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100, maxKeys: 2 });
  q.addAfter('late', 30);
  assert.equal(q.length, 0);
  q.add('a');
  q.add('b'); // 'late' waiting + 'a' = 2 keys: 'b' is dropped
  assert.equal(q.dropped, 1);
  assert.equal(await q.get(), 'a');
  const t0 = Date.now();
  assert.equal(await q.get(), 'late');
  assert.ok(Date.now() - t0 >= 15);
  q.shutDown();
  clearTimeout(keepAlive);
});
