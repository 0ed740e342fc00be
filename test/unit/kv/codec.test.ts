import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_KV_LIMITS, decodeCommand, encodeCommand, kvCommandEncoder, validateCommand, type KvCommand } from '../../../daemon/src/kv/index.js';
import { enc } from './helpers.js';
import { ByteReader, ByteWriter } from '../../../daemon/src/kv/bytes.js';

const samples: KvCommand[] = [
  { op: 'put', proposedAtMs: 123, key: 'a/b', value: enc('v') },
  { op: 'put', proposedAtMs: 5, key: 'ключ/ü/😀', value: new Uint8Array([0, 255, 1]), ifMatch: 0, idempotencyKey: 'req-1', fencing: { lock: 'leader', token: 42 } },
  { op: 'put', proposedAtMs: 0, key: 'empty', value: new Uint8Array(0), ifMatch: 17 },
  { op: 'delete', proposedAtMs: 9, key: 'x', ifMatch: 3, fencing: { lock: 'l', token: 1 } },
  { op: 'delete', proposedAtMs: 9, key: 'x' },
  {
    op: 'txn',
    proposedAtMs: 77,
    idempotencyKey: 'tx',
    fencing: { lock: 'l', token: 8 },
    compare: [
      { key: 'a', target: 'value', op: '>', value: enc('z') },
      { key: 'b', target: 'modRevision', op: '<', value: 10 },
      { key: 'c', target: 'exists', op: '!=', value: true },
    ],
    success: [{ put: { key: 'a', value: enc('1') } }, { delete: { key: 'b' } }, { get: { key: 'c' } }],
    failure: [{ get: { key: 'a' } }],
  },
  { op: 'txn', proposedAtMs: 1, compare: [], success: [], failure: [] },
  { op: 'lockAcquire', proposedAtMs: 1, name: 'L', owner: 'me', ttlMs: 5000, idempotencyKey: 'k' },
  { op: 'lockRelease', proposedAtMs: 1, name: 'L', token: 99 },
  { op: 'put', proposedAtMs: 5, key: 'k', value: enc('v'), idempotencyKey: 'req-2', idempotencyBudgetBytes: 1 << 26 },
  { op: 'put', proposedAtMs: 5, key: 'k', value: enc('v'), session: { id: 17, seq: 3 }, ifMatch: 2 },
  { op: 'lockRelease', proposedAtMs: 1, name: 'L', token: 99, session: { id: 1, seq: 1 } },
  { op: 'sessionOpen', proposedAtMs: 3, maxSessions: 100 },
  { op: 'sessionClose', proposedAtMs: 3, id: 12 },
];

test('a command carries an Idempotency-Key or a session, not both; session numbers start at 1', () => {
  assert.throws(() => encodeCommand({ op: 'put', proposedAtMs: 1, key: 'k', value: enc('v'), idempotencyKey: 'x', session: { id: 1, seq: 1 } }), /not both/);
  const zero = decodeCommand(encodeCommand({ op: 'put', proposedAtMs: 1, key: 'k', value: enc('v'), session: { id: 1, seq: 0 } }));
  assert.equal(zero.ok, false);
  const noMax = decodeCommand(encodeCommand({ op: 'sessionOpen', proposedAtMs: 1, maxSessions: 0 }));
  assert.equal(noMax.ok, false);
});

test('codec round-trips every command shape', () => {
  for (const c of samples) {
    const bytes = encodeCommand(c);
    assert.notEqual(bytes[0], 0xff, 'first byte must not collide with driver entries');
    const d = decodeCommand(bytes);
    assert.ok(d.ok, d.ok ? '' : d.error);
    assert.deepEqual(d.command, c);
  }
});

test('kvCommandEncoder matches encodeCommand', () => {
  const w = { proposedAtMs: 10, key: 'k', value: enc('v'), ifMatch: 2 };
  assert.deepEqual(kvCommandEncoder.put(w), encodeCommand({ op: 'put', ...w }));
  assert.deepEqual(kvCommandEncoder.lockRelease({ proposedAtMs: 1, name: 'n', token: 3 }), encodeCommand({ op: 'lockRelease', proposedAtMs: 1, name: 'n', token: 3 }));
});

test('garbage, truncation and trailing bytes yield typed errors, never throws', () => {
  const inputs: Uint8Array[] = [new Uint8Array(0), new Uint8Array([0xff, 0x52]), new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0, 0, 0])];
  for (const c of samples) {
    const b = encodeCommand(c);
    for (let n = 0; n < b.length; n++) inputs.push(b.subarray(0, n));
    const extra = new Uint8Array(b.length + 1);
    extra.set(b);
    inputs.push(extra);
  }
  // Deterministic pseudo-random garbage and bit flips.
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let i = 0; i < 3000; i++) {
    const base = encodeCommand(samples[i % samples.length] as KvCommand);
    const b = base.slice();
    const at = rnd() % b.length;
    b[at] = (b[at] ?? 0) ^ (1 << (rnd() % 8));
    inputs.push(b);
    const g = new Uint8Array(rnd() % 64);
    for (let j = 0; j < g.length; j++) g[j] = rnd() & 0xff;
    inputs.push(g);
  }
  let failures = 0;
  for (const inp of inputs) {
    const d = decodeCommand(inp);
    if (!d.ok) {
      failures++;
      assert.equal(typeof d.error, 'string');
    }
  }
  assert.ok(failures > inputs.length / 2, `most garbage must be refused (${failures}/${inputs.length})`);
});

test('decode enforces limits', () => {
  const big = encodeCommand({ op: 'put', proposedAtMs: 1, key: 'k'.repeat(4 * 4096 + 1), value: enc('v') });
  assert.equal(decodeCommand(big).ok, false);
  assert.equal(decodeCommand(encodeCommand({ op: 'put', proposedAtMs: 1, key: 'k'.repeat(4 * 4096), value: enc('v') })).ok, true);
  assert.equal(decodeCommand(encodeCommand({ op: 'put', proposedAtMs: 1, key: '', value: enc('v') })).ok, false);
  const v = encodeCommand({ op: 'put', proposedAtMs: 1, key: 'k', value: new Uint8Array(11) });
  assert.equal(decodeCommand(v, { ...DEFAULT_KV_LIMITS, maxValueBytes: 10 }).ok, false);
  const ops = Array.from({ length: DEFAULT_KV_LIMITS.maxTxnOps + 1 }, () => ({ get: { key: 'a' } }));
  assert.equal(decodeCommand(encodeCommand({ op: 'txn', proposedAtMs: 1, compare: [], success: ops, failure: [] })).ok, false);
  assert.equal(decodeCommand(encodeCommand({ op: 'lockAcquire', proposedAtMs: 1, name: 'n', owner: 'o', ttlMs: 1 })).ok, false, 'ttl below minimum');
  assert.equal(decodeCommand(encodeCommand({ op: 'put', proposedAtMs: 1, key: 'k', value: enc(''), ifMatch: -1 })).ok, false);
  assert.equal(decodeCommand(encodeCommand({ op: 'put', proposedAtMs: 1, key: 'k', value: enc(''), ifMatch: 1.5 })).ok, false);
  assert.match(validateCommand({ op: 'put', proposedAtMs: 1, key: 'x'.repeat(4 * 4096 + 1), value: enc('') }) ?? '', /exceeds|key/);
  assert.equal(validateCommand({ op: 'delete', proposedAtMs: 1, key: 'ok' }), null);
});

test('invalid UTF-8 in a key is refused', () => {
  const b = encodeCommand({ op: 'delete', proposedAtMs: 1, key: 'ab' });
  // key bytes are the last two; make them an invalid sequence
  b[b.length - 2] = 0xc3;
  b[b.length - 1] = 0x28;
  const d = decodeCommand(b);
  assert.equal(d.ok, false);
});

test('ByteWriter.str writes UTF-8 in place, also when a non-ASCII tail makes the buffer grow', () => {
  const strings = ['', 'ascii', 'ключ/ü/😀', `${'a'.repeat(40)}ü${'b'.repeat(3)}😀`, 'x'.repeat(300), '\u0080\u07ff\u0800\uffff'];
  for (const s of strings) {
    // A 1-byte start: every string grows the buffer, after its ASCII prefix was written.
    const w = new ByteWriter(1).u8(7).str(s).u8(9);
    const out = w.finish();
    const r = new ByteReader(out);
    assert.equal(r.u8(), 7);
    assert.equal(r.str(10_000), s);
    assert.equal(r.u8(), 9);
    r.end();
    assert.deepEqual([...out.subarray(5, out.length - 1)], [...new TextEncoder().encode(s)], `the UTF-8 bytes of ${JSON.stringify(s)}`);
  }
});

test('an exactly sized put or delete is encoded without a trimming copy, and its bytes do not change', () => {
  for (const c of samples) {
    const bytes = encodeCommand(c);
    if (c.op === 'put' || c.op === 'delete') assert.equal(bytes.buffer.byteLength, bytes.length, `${c.op} sized exactly`);
    const d = decodeCommand(bytes, DEFAULT_KV_LIMITS);
    assert.ok(d.ok);
    assert.deepEqual(encodeCommand(d.command), bytes);
  }
  // The layout of a sessioned put, byte for byte (it is what the log and the WAL hold).
  const put = encodeCommand({ op: 'put', proposedAtMs: 1, key: 'k', value: new Uint8Array([0xaa]), session: { id: 2, seq: 3 } });
  const expected = Buffer.concat([
    Buffer.from([1]), f64(1), Buffer.from([16]), f64(2), f64(3),
    Buffer.from([1, 0, 0, 0]), Buffer.from('k'), Buffer.from([1, 0, 0, 0, 0xaa]),
  ]);
  assert.deepEqual(Buffer.from(put), expected);
});

function f64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return b;
}
