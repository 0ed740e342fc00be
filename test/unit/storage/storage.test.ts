// Both RaftStorage drivers against the same contract: round trips, suffix replacement, received
// snapshots, compaction, snapshot chunks, meta, typed failures that leave the store unchanged,
// corruption detection; and a SIGKILL crash test showing no torn write is ever observed.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { EntryType, type Entry } from '../../../daemon/src/raft/types.js';
import type { RaftStorage, StoredSnapshot } from '../../../daemon/src/storage/types.js';
import { MemoryRaftStorage } from '../../../daemon/src/storage/memory-raft-storage.js';
import { RocksRaftStorage, SNAPSHOT_CHUNK_BYTES } from '../../../daemon/src/storage/rocks-raft-storage.js';
import { StorageError } from '../../../daemon/src/storage/errors.js';
import { WorkerRaftStorage } from '../../../daemon/src/storage/worker-raft-storage.js';
import {
  ByteReader, ByteWriter, decodeHardStateRecord, encodeHardStateRecord, readEntry, readHardState, readSnapshotMeta, writeEntry, writeHardState, writeSnapshotMeta,
} from '../../../daemon/src/storage/codec.js';

const here = dirname(fileURLToPath(import.meta.url));

function ent(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}
function range(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, term));
  return out;
}
function snap(index: number, term: number, bytes: number): StoredSnapshot {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 7 + index) & 0xff;
  return { meta: { index, term, confState: { voters: ['a', 'b'], learners: ['c'] } }, data };
}
const indexes = (es: readonly Entry[]): number[] => es.map((e) => e.index);

interface Driver {
  name: string;
  /** A fresh store; `reopen` gives the same data through a new load (a restart). */
  make(): Promise<{ s: RaftStorage; reopen: () => Promise<RaftStorage>; cleanup: () => void }>;
}

const drivers: Driver[] = [
  {
    name: 'MemoryRaftStorage',
    async make() {
      const s = new MemoryRaftStorage();
      await s.load();
      return { s, reopen: async () => s, cleanup: () => {} };
    },
  },
  {
    name: 'RocksRaftStorage',
    async make() {
      const dir = mkdtempSync(join(tmpdir(), 'io-rocks-'));
      let s = new RocksRaftStorage(dir);
      await s.load();
      return {
        s,
        reopen: async () => {
          await s.close();
          s = new RocksRaftStorage(dir);
          return s;
        },
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'WorkerRaftStorage',
    async make() {
      const dir = mkdtempSync(join(tmpdir(), 'io-worker-'));
      let s = new WorkerRaftStorage(dir);
      await s.load();
      return {
        s,
        reopen: async () => {
          await s.close();
          s = new WorkerRaftStorage(dir);
          return s;
        },
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
];

for (const d of drivers) {
  describe(d.name, () => {
    test('empty store loads empty state', async () => {
      const { s, cleanup } = await d.make();
      try {
        const st = await s.load();
        assert.deepEqual(st.hardState, { term: 0, vote: '', commit: 0 });
        assert.equal(st.snapshot, null);
        assert.equal(st.entries.length, 0);
        assert.deepEqual(st.meta, {});
      } finally {
        await s.close();
        cleanup();
      }
    });

    test('round trip, suffix replacement, meta survive a restart', async () => {
      const { s, reopen, cleanup } = await d.make();
      let cur = s;
      try {
        await cur.persist({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: range(1, 10, 1) });
        // Replace 6..10 with a shorter 6..7 of term 2: 8..10 must disappear.
        await cur.persist({ hardState: { term: 2, vote: 'b', commit: 5 }, entries: range(6, 7, 2) });
        await cur.putMeta('cluster-id', 'c1');
        await cur.putMeta('addr/ä', 'x:1');
        cur = await reopen();
        const st = await cur.load();
        assert.deepEqual(st.hardState, { term: 2, vote: 'b', commit: 5 });
        assert.deepEqual(indexes(st.entries), [1, 2, 3, 4, 5, 6, 7]);
        assert.deepEqual(st.entries.map((e) => e.term), [1, 1, 1, 1, 1, 2, 2]);
        assert.deepEqual(st.entries[6], ent(7, 2));
        assert.deepEqual(st.meta, { 'cluster-id': 'c1', 'addr/ä': 'x:1' });
        // Appending after a restart continues the log.
        await cur.persist({ entries: range(8, 9, 2) });
        assert.deepEqual(indexes((await cur.load()).entries), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        // A gap is refused and changes nothing.
        await assert.rejects(cur.persist({ entries: range(20, 21, 2) }), StorageError);
        assert.deepEqual(indexes((await cur.load()).entries), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
      } finally {
        await cur.close();
        cleanup();
      }
    });

    test('compaction keeps later entries; a received snapshot replaces the whole log', async () => {
      const { s, reopen, cleanup } = await d.make();
      let cur = s;
      try {
        await cur.persist({ hardState: { term: 1, vote: 'a', commit: 8 }, entries: range(1, 10, 1) });
        const big = snap(6, 1, SNAPSHOT_CHUNK_BYTES * 2 + 123); // three chunks
        await cur.saveSnapshotAndCompact(big);
        cur = await reopen();
        let st = await cur.load();
        assert.deepEqual(st.snapshot?.meta, big.meta);
        assert.deepEqual(Buffer.from(st.snapshot?.data ?? []), Buffer.from(big.data));
        assert.deepEqual(indexes(st.entries), [7, 8, 9, 10]);
        // An older snapshot is ignored.
        await cur.saveSnapshotAndCompact(snap(3, 1, 10));
        assert.equal((await cur.load()).snapshot?.meta.index, 6);
        // A received snapshot at 5 (behind our log!) still replaces everything; entries follow it.
        const small = snap(20, 3, 100); // one chunk: the old extra chunks must go
        await cur.persist({ snapshot: small, hardState: { term: 3, vote: '', commit: 20 }, entries: range(21, 22, 3) });
        cur = await reopen();
        st = await cur.load();
        assert.deepEqual(st.snapshot?.meta, small.meta);
        assert.deepEqual(Buffer.from(st.snapshot?.data ?? []), Buffer.from(small.data));
        assert.deepEqual(indexes(st.entries), [21, 22]);
        assert.deepEqual(st.hardState, { term: 3, vote: '', commit: 20 });
        // Compacting beyond the last entry empties the log.
        await cur.saveSnapshotAndCompact(snap(30, 3, 0));
        st = await cur.load();
        assert.deepEqual(indexes(st.entries), []);
        assert.equal(st.snapshot?.data.length, 0);
        await cur.persist({ entries: range(31, 32, 3) });
        assert.deepEqual(indexes((await cur.load()).entries), [31, 32]);
      } finally {
        await cur.close();
        cleanup();
      }
    });
  });
}

test('MemoryRaftStorage: an injected NoSpace failure changes nothing and later writes succeed', async () => {
  const s = new MemoryRaftStorage();
  await s.persist({ hardState: { term: 1, vote: 'a', commit: 1 }, entries: range(1, 3, 1) });
  s.failNextWrites(1, 'NoSpace');
  await assert.rejects(s.persist({ hardState: { term: 2, vote: 'b', commit: 2 }, entries: range(2, 2, 2) }), (e: unknown) => e instanceof StorageError && e.code === 'NoSpace');
  const st = await s.load();
  assert.deepEqual(indexes(st.entries), [1, 2, 3]);
  assert.equal(st.hardState.term, 1);
  await s.persist({ hardState: { term: 2, vote: 'b', commit: 2 }, entries: range(2, 2, 2) });
  assert.deepEqual(indexes((await s.load()).entries), [1, 2]);
});

test('RocksRaftStorage: ENOSPC rejects with NoSpace, leaves the store consistent, later writes succeed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'io-rocks-'));
  let fault: Error | null = null;
  const durations: number[] = [];
  let s = new RocksRaftStorage(dir, { writeFault: () => fault, observer: { onPersist: (ms) => durations.push(ms) } });
  try {
    await s.load();
    await s.persist({ hardState: { term: 1, vote: 'a', commit: 1 }, entries: range(1, 5, 1) });
    fault = Object.assign(new Error('IO error: No space left on device: While appending to file'), { code: 'LEVEL_IO_ERROR' });
    await assert.rejects(s.persist({ entries: range(3, 3, 2) }), (e: unknown) => e instanceof StorageError && e.code === 'NoSpace');
    fault = new Error('IO error: something else');
    await assert.rejects(s.putMeta('k', 'v'), (e: unknown) => e instanceof StorageError && e.code === 'IO');
    fault = null;
    // The in-memory bookkeeping did not move: appending 6 still fits after 5.
    await s.persist({ entries: range(6, 6, 1) });
    await s.close();
    s = new RocksRaftStorage(dir);
    const st = await s.load();
    assert.deepEqual(indexes(st.entries), [1, 2, 3, 4, 5, 6]);
    assert.equal(durations.length, 2);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RocksRaftStorage: corrupt records make load() fail with Corrupt, never a partial state', async () => {
  const require = createRequire(import.meta.url);
  const { RocksLevel } = require('@nxtedition/rocksdb') as {
    RocksLevel: new (d: string, o: object) => {
      open(): Promise<void>; close(): Promise<void>; batch(ops: object[], o: object): Promise<void>;
    };
  };
  const cases: Array<[string, Array<{ type: string; key: Buffer; value?: Buffer }>, RegExp]> = [
    ['gap in log', [{ type: 'del', key: Buffer.from([0x10, 0, 0, 0, 0, 0, 0, 0, 2]) }], /not contiguous/],
    ['garbage entry', [{ type: 'put', key: Buffer.from([0x10, 0, 0, 0, 0, 0, 0, 0, 2]), value: Buffer.from([0xff]) }], /undecodable/],
    ['unknown prefix', [{ type: 'put', key: Buffer.from([0x77]), value: Buffer.from([1]) }], /unknown key prefix/],
    ['snapshot chunk lost', [{ type: 'del', key: Buffer.from([0x31, 0, 0, 0, 1]) }], /chunks/],
    ['snapshot bytes flipped', [{ type: 'put', key: Buffer.from([0x31, 0, 0, 0, 0]), value: Buffer.alloc(SNAPSHOT_CHUNK_BYTES, 9) }], /checksum/],
  ];
  for (const [name, ops, re] of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'io-rocks-'));
    try {
      const s = new RocksRaftStorage(dir);
      await s.load();
      await s.persist({ hardState: { term: 1, vote: 'a', commit: 1 }, entries: range(1, 5, 1) });
      await s.saveSnapshotAndCompact(snap(1, 1, SNAPSHOT_CHUNK_BYTES + 5));
      await s.close();
      const raw = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      await raw.open();
      await raw.batch(ops, { sync: true });
      await raw.close();
      const s2 = new RocksRaftStorage(dir);
      await assert.rejects(s2.load(), (e: unknown) => e instanceof StorageError && e.code === 'Corrupt' && re.test(e.message), name);
      await s2.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('RocksRaftStorage: compacted entries go by range; ones a crash left below the snapshot are skipped, later ones still checked', async () => {
  const require = createRequire(import.meta.url);
  const { RocksLevel } = require('@nxtedition/rocksdb') as {
    RocksLevel: new (d: string, o: object) => {
      open(): Promise<void>; close(): Promise<void>; batch(ops: object[], o: object): Promise<void>;
      iterator(o?: object): AsyncIterable<[Buffer, Buffer]>;
    };
  };
  const dir = mkdtempSync(join(tmpdir(), 'io-rocks-'));
  const entryKey = (i: number): Buffer => Buffer.from([0x10, 0, 0, 0, 0, 0, 0, 0, i]);
  const encoded = (e: Entry): Buffer => {
    const w = new ByteWriter(64);
    writeEntry(w, e);
    return Buffer.from(w.finish());
  };
  try {
    const s = new RocksRaftStorage(dir);
    await s.load();
    await s.persist({ hardState: { term: 1, vote: 'a', commit: 8 }, entries: range(1, 10, 1) });
    await s.saveSnapshotAndCompact(snap(6, 1, 100));
    await s.close();
    const raw = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.open();
    const left: number[] = [];
    for await (const [k] of raw.iterator()) if (k[0] === 0x10) left.push(k[8] ?? -1);
    assert.deepEqual(left, [7, 8, 9, 10], 'entries 1..6 are gone from the database');
    // What a crash before the (unsynced) range delete reached the disk would leave behind.
    await raw.batch([2, 5, 6].map((i) => ({ type: 'put', key: entryKey(i), value: encoded(ent(i, 1)) })), { sync: true });
    await raw.close();
    const s2 = new RocksRaftStorage(dir);
    const st = await s2.load();
    assert.deepEqual(indexes(st.entries), [7, 8, 9, 10], 'dead entries below the snapshot are skipped');
    // The next compaction removes them too; a real gap above the snapshot is still corruption.
    await s2.persist({ entries: range(11, 12, 1) });
    await s2.saveSnapshotAndCompact(snap(9, 1, 10));
    assert.deepEqual(indexes((await s2.load()).entries), [10, 11, 12]);
    await s2.close();
    const raw2 = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw2.open();
    const left2: number[] = [];
    for await (const [k] of raw2.iterator()) if (k[0] === 0x10) left2.push(k[8] ?? -1);
    assert.deepEqual(left2, [10, 11, 12]);
    await raw2.batch([{ type: 'del', key: entryKey(11) }], { sync: true });
    await raw2.close();
    const s3 = new RocksRaftStorage(dir);
    await assert.rejects(s3.load(), (e: unknown) => e instanceof StorageError && e.code === 'Corrupt' && /not contiguous/.test(e.message));
    await s3.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('codec round trips entries, hard state and snapshot meta', () => {
  const w = new ByteWriter(4);
  const e: Entry = { index: 2 ** 53 - 1, term: 123456789012, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) };
  writeEntry(w, e);
  writeHardState(w, { term: 7, vote: 'node-ü-1'.repeat(30), commit: 0 });
  writeSnapshotMeta(w, { index: 5, term: 2, confState: { voters: ['a'], learners: [] } });
  const r = new ByteReader(w.finish());
  assert.deepEqual(readEntry(r, true), e);
  assert.deepEqual(readHardState(r), { term: 7, vote: 'node-ü-1'.repeat(30), commit: 0 });
  assert.deepEqual(readSnapshotMeta(r), { index: 5, term: 2, confState: { voters: ['a'], learners: [] } });
  assert.equal(r.remaining(), 0);
});

test('the stored hard state keeps a vote floor; a record written without one reads as before', async () => {
  const old = new ByteWriter(16);
  writeHardState(old, { term: 3, vote: 'b', commit: 9 });
  assert.deepEqual(decodeHardStateRecord(old.finish()), { term: 3, vote: 'b', commit: 9 });
  assert.deepEqual(decodeHardStateRecord(encodeHardStateRecord({ term: 3, vote: 'b', commit: 9, voteFloor: 0 })), { term: 3, vote: 'b', commit: 9 });
  assert.deepEqual(decodeHardStateRecord(encodeHardStateRecord({ term: 3, vote: 'b', commit: 9, voteFloor: 41 })), { term: 3, vote: 'b', commit: 9, voteFloor: 41 });
  const dir = mkdtempSync(join(tmpdir(), 'io-floor-'));
  try {
    const s = new RocksRaftStorage(dir);
    await s.load();
    await s.persist({ hardState: { term: 2, vote: '', commit: 1, voteFloor: 7 }, entries: range(1, 1, 1) });
    await s.close();
    const r = new RocksRaftStorage(dir);
    assert.deepEqual((await r.load()).hardState, { term: 2, vote: '', commit: 1, voteFloor: 7 });
    await r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RocksRaftStorage: SIGKILL mid-write never leaves a torn batch; every reported-durable batch survives', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'io-crash-'));
  const child = join(here, 'crash-child.js');
  const ROUNDS = 5;
  try {
    let prevDurable = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const proc = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const exited = new Promise<void>((res) => proc.on('exit', () => res()));
      try {
        // Wait for the child to report some progress, then kill it at a random moment.
        const deadline = Date.now() + 20_000;
        while (!/durable/.test(out) && Date.now() < deadline && proc.exitCode === null) await new Promise((r) => setTimeout(r, 20));
        assert.match(out, /durable/, `child made no progress: ${err}`);
        await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 150)));
      } finally {
        proc.kill('SIGKILL');
        await exited;
      }
      const lines = out.split('\n').filter((l) => l.startsWith('durable '));
      const lastLine = lines[lines.length - 1] as string;
      const [, lastS, termS, commitS] = lastLine.split(' ');
      const reportedTerm = Number(termS);
      const s = new RocksRaftStorage(dir);
      try {
        const st = await s.load(); // throws Corrupt on a gap or a torn snapshot
        const es = st.entries;
        for (let i = 1; i < es.length; i++) assert.equal((es[i] as Entry).index, (es[i - 1] as Entry).index + 1);
        const last = (es[es.length - 1] as Entry).index;
        assert.equal(es[0]?.index, 1);
        // The last durable batch is there (maybe one more that finished before the kill landed).
        assert.ok(st.hardState.term >= reportedTerm, `term ${st.hardState.term} < reported ${reportedTerm}`);
        if (st.hardState.term === reportedTerm) {
          assert.equal(last, Number(lastS));
          assert.equal(st.hardState.commit, Number(commitS));
        } else {
          assert.equal(st.hardState.term, reportedTerm + 1, 'at most one unreported batch');
        }
        // Hard state and log come from the same batch: commit is last-1 and the tail has the term.
        assert.equal(st.hardState.commit, last - 1);
        assert.equal((es[es.length - 1] as Entry).term, st.hardState.term);
        for (const e of es) assert.equal(e.data[0], e.index & 0xff);
        assert.ok(lines.length > 0);
        prevDurable += lines.length;
      } finally {
        await s.close();
      }
    }
    assert.ok(prevDurable >= ROUNDS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('WorkerRaftStorage: typed errors cross the thread; the observer hears synced writes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'io-worker-'));
  const seen: number[] = [];
  const s = new WorkerRaftStorage(dir, { observer: { onPersist: (_ms, bytes) => seen.push(bytes) } });
  try {
    await s.load();
    await s.persist({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: range(1, 3, 1) });
    await assert.rejects(s.persist({ entries: range(9, 9, 1) }), (e: unknown) => e instanceof StorageError && e.code === 'IO' && /entries start at 9/.test(e.message));
    assert.equal(seen.length, 1);
    assert.ok((seen[0] ?? 0) > 30);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('WorkerRaftStorage: the hand-off leaves the caller\'s entries intact (only the encoded copy is transferred)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'io-worker-'));
  const s = new WorkerRaftStorage(dir);
  try {
    await s.load();
    const entries = range(1, 50, 1);
    const before = entries.map((e) => Buffer.from(e.data).toString());
    await s.persist({ hardState: { term: 1, vote: 'a', commit: 0 }, entries });
    assert.deepEqual(entries.map((e) => Buffer.from(e.data).toString()), before);
    await assert.rejects(s.persist({ entries: [ent(51, 1), ent(53, 1)] }), (e: unknown) => e instanceof StorageError && /not contiguous/.test(e.message));
  } finally {
    await s.close();
  }
  const r = new WorkerRaftStorage(dir);
  try {
    const st = await r.load();
    assert.deepEqual(indexes(st.entries), range(1, 50, 1).map((e) => e.index));
    assert.equal(Buffer.from((st.entries[49] as Entry).data).toString(), 'e50t1');
  } finally {
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('WorkerRaftStorage: a worker that dies is reported once and every later call fails with IO', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'io-worker-'));
  const died: Error[] = [];
  const s = new WorkerRaftStorage(dir, { onWorkerDied: (err) => died.push(err) });
  try {
    await s.load();
    // The worker thread is private; reaching it is the only way to kill it from a test.
    await (s as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(died.length, 1);
    assert.match(died[0]?.message ?? '', /exited/);
    await assert.rejects(s.persist({ entries: range(1, 1, 1) }), (e: unknown) => e instanceof StorageError && e.code === 'IO' && /storage worker failed/.test(e.message));
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
