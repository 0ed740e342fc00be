// Frame codec: round trips for random messages (every field), chunked streaming, and a fuzz
// showing the decoder never throws on garbage or mutated frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryType, MessageType, type Entry, type Message } from '../../../daemon/src/raft/types.js';
import {
  FrameDecoder, MAX_FRAME_BYTES, encodeFrame, encodeMessage, type Frame,
} from '../../../daemon/src/transport/frame-codec.js';

/** Small deterministic PRNG (mulberry32) so failures replay. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n | 0;
  };
}

function randomBytes(r: (n: number) => number, max: number): Uint8Array {
  const b = new Uint8Array(r(max + 1));
  for (let i = 0; i < b.length; i++) b[i] = r(256);
  return b;
}
const names = ['a', 'node-1', 'раз', '', 'x'.repeat(50), '🦀'];

function randomMessage(r: (n: number) => number): Message {
  const big = (): number => (r(4) === 0 ? r(2 ** 30) * 2 ** 22 + r(2 ** 22) : r(1000));
  const entries: Entry[] = [];
  const n = r(4) === 0 ? r(20) : 0;
  for (let i = 0; i < n; i++) entries.push({ term: big(), index: big(), type: r(3) as EntryType, data: randomBytes(r, 100) });
  const m: { -readonly [K in keyof Message]: Message[K] } = {
    type: (1 + r(12)) as MessageType,
    from: names[r(names.length)] as string,
    to: names[r(names.length)] as string,
    term: big(), logTerm: big(), index: big(), entries, commit: big(), reject: r(2) === 1,
    rejectHint: big(), rejectHintTerm: big(), context: big(),
  };
  if (r(3) === 0) m.snapshot = { index: big(), term: big(), confState: { voters: ['a', 'b'].slice(0, r(3)), learners: names.slice(0, r(3)) } };
  if (r(2) === 0) m.traceParent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  if (r(4) === 0) m.snapshotData = randomBytes(r, 300);
  return m;
}

test('random messages round-trip through frames split at random points', () => {
  const r = rng(1);
  for (let round = 0; round < 300; round++) {
    const msgs = Array.from({ length: 1 + r(5) }, () => randomMessage(r));
    const frames: Frame[] = [{ kind: 'hello', clusterId: 'c', from: 'a' }, ...msgs.map((message) => ({ kind: 'message' as const, message })),
      { kind: 'ping', nonce: r(1e9) }, { kind: 'snapshotChunk', transferId: 3, offset: 2 ** 40, data: randomBytes(r, 50) }];
    const wire = Buffer.concat(frames.map((f) => encodeFrame(f)));
    const dec = new FrameDecoder();
    const got: Frame[] = [];
    let pos = 0;
    while (pos < wire.length) {
      const step = 1 + r(64);
      const res = dec.push(wire.subarray(pos, pos + step));
      assert.ok(res.ok, res.ok ? '' : res.error);
      got.push(...res.frames);
      pos += step;
    }
    assert.deepEqual(got, frames);
    assert.equal(dec.bufferedBytes, 0);
  }
});

test('decoded entries share one copy of their region: later input and the decoder\'s buffer cannot change them', () => {
  const entries: Entry[] = Array.from({ length: 30 }, (_, i) => ({ term: 2, index: 100 + i, type: EntryType.Normal, data: new TextEncoder().encode(`value-${i}`.repeat(1 + (i % 5))) }));
  entries.push({ term: 2, index: 130, type: EntryType.Normal, data: new Uint8Array(0) });
  const message: Message = { type: MessageType.Append, from: 'a', to: 'b', term: 2, logTerm: 2, index: 99, entries, commit: 90, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 };
  const wire = Uint8Array.from(encodeFrame({ kind: 'message', message }));
  const dec = new FrameDecoder();
  const res = dec.push(wire);
  assert.ok(res.ok);
  const got = (res.frames[0] as Extract<Frame, { kind: 'message' }>).message;
  wire.fill(0);
  dec.push(encodeFrame({ kind: 'ping', nonce: 7 }));
  assert.deepEqual(got.entries, entries);
  const buffers = new Set(got.entries.map((e) => e.data.buffer));
  assert.equal(buffers.size, 1);
  assert.notEqual([...buffers][0], wire.buffer);
});

test('decoder never throws on random garbage or mutated valid frames, and reports errors', () => {
  const r = rng(2);
  let errors = 0;
  const valid = Buffer.concat(Array.from({ length: 20 }, () => encodeMessage(randomMessage(r))));
  for (let i = 0; i < 5000; i++) {
    const dec = new FrameDecoder({ maxFrameBytes: 1 << 20 });
    let input: Uint8Array;
    if (i % 2 === 0) input = randomBytes(r, 200);
    else {
      input = Uint8Array.from(valid.subarray(0, 1 + r(valid.length)));
      for (let k = 0, n = 1 + r(4); k < n; k++) input[r(input.length)] = r(256);
    }
    let res;
    let pos = 0;
    do {
      const step = 1 + r(100);
      res = dec.push(input.subarray(pos, pos + step));
      pos += step;
    } while (res.ok && pos < input.length);
    if (!res.ok) {
      errors++;
      assert.equal(typeof res.error, 'string');
      assert.equal(dec.push(new Uint8Array([0])).ok, false, 'a failed decoder stays failed');
    }
  }
  assert.ok(errors > 2000, `only ${errors} garbage inputs detected`);
});

test('oversize length, unknown type, bad version and truncated bodies are errors', () => {
  const over = new Uint8Array(8);
  new DataView(over.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
  over[4] = 1; over[5] = 2;
  assert.match((new FrameDecoder().push(over) as { error: string }).error, /exceeds max/);
  assert.match((new FrameDecoder().push(new Uint8Array([0, 0, 0, 2, 1, 99])) as { error: string }).error, /unknown frame type/);
  assert.match((new FrameDecoder().push(new Uint8Array([0, 0, 0, 2, 7, 1])) as { error: string }).error, /version/);
  // A message frame whose body ends early.
  const m = encodeMessage({ type: MessageType.Append, from: 'a', to: 'b', term: 1, logTerm: 1, index: 1, entries: [{ term: 1, index: 2, type: EntryType.Normal, data: new Uint8Array(10) }], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 });
  const cut = Uint8Array.from(m.subarray(0, m.length - 3));
  new DataView(cut.buffer).setUint32(0, cut.length - 4);
  const res = new FrameDecoder().push(cut);
  assert.equal(res.ok, false);
  // A valid frame is untouched by the decoder's reuse of its buffer.
  const ok = new FrameDecoder().push(m);
  assert.ok(ok.ok && ok.frames.length === 1);
});

test('encode/decode speed: 100k small Append messages (reported, loosely bounded)', () => {
  const msg: Message = { type: MessageType.Append, from: 'raftkv-0', to: 'raftkv-1', term: 5, logTerm: 5, index: 100000, entries: [{ term: 5, index: 100001, type: EntryType.Normal, data: new Uint8Array(100) }], commit: 99999, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 };
  const N = 100_000;
  const t0 = performance.now();
  const parts: Uint8Array[] = [];
  for (let i = 0; i < N; i++) parts.push(encodeMessage(msg));
  const t1 = performance.now();
  const dec = new FrameDecoder();
  let count = 0;
  const wire = Buffer.concat(parts);
  for (let pos = 0; pos < wire.length; pos += 65536) {
    const res = dec.push(wire.subarray(pos, pos + 65536));
    assert.ok(res.ok);
    count += res.frames.length;
  }
  const t2 = performance.now();
  assert.equal(count, N);
  console.log(`encode ${(N / ((t1 - t0) / 1000)).toFixed(0)} msg/s, decode ${(N / ((t2 - t1) / 1000)).toFixed(0)} msg/s`);
  assert.ok(N / ((t2 - t0) / 1000) > 20_000, 'codec far too slow');
});
