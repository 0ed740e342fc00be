import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCommand, KvStateMachine } from '../../../daemon/src/kv/index.js';

// Bounded (a few hundred ms) check that apply keeps up with >10k commands/s with a watcher
// attached; the assertion uses half that to stay stable on a shared 2-core machine.
test('apply throughput with a watcher and idempotency keys', () => {
  const sm = new KvStateMachine({ scheduleWatchFlush: () => {} });
  let seen = 0;
  sm.watch('k/', 0, { onEvent: () => void seen++ });
  const n = 30_000;
  const value = new Uint8Array(100);
  const entries = Array.from({ length: n }, (_, i) =>
    encodeCommand({ op: 'put', proposedAtMs: 1000 + i, key: `k/${(i * 7919) % 20_000}`, value, ...(i % 2 === 0 ? { idempotencyKey: `req-${i}` } : {}) }),
  );
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const r = sm.apply(i + 1, 1, entries[i] as Uint8Array);
    if (!r.ok) assert.fail(r.message);
    if (i % 1000 === 999) sm.watchHub.flush();
  }
  sm.watchHub.flush();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const perSec = Math.round((n / ms) * 1000);
  console.log(`kv apply: ${n} puts in ${ms.toFixed(0)} ms = ${perSec}/s; ${sm.size} keys`);
  assert.equal(seen, n);
  assert.equal(sm.revision, n);
  assert.ok(perSec > 5000, `apply too slow: ${perSec}/s`);
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) sm.range('k/1', 50);
  const rangeMs = Number(process.hrtime.bigint() - t1) / 1e6;
  console.log(`kv range: 1000 pages of 50 in ${rangeMs.toFixed(0)} ms`);
  assert.ok(rangeMs < 2000);
});
