// RaftStorage on RocksDB (@nxtedition/rocksdb RocksLevel). Every durable step is ONE write batch
// with sync:true, so a crash leaves either all of it or none of it (RocksDB's WAL is atomic per
// batch). Key layout (binary, one-byte prefix so each kind iterates in order):
//   0x10 + u64 BE index      → log entry (codec.writeEntry; the index is repeated and checked)
//   0x20                     → hard state
//   0x30                     → snapshot header: meta, data length, chunk count, crc32 of data
//   0x31 + u32 BE chunk no   → snapshot data chunk (SNAPSHOT_CHUNK_BYTES each, last may be short)
//   0x40 + utf8 key          → daemon metadata (utf8 value)
import { createRequire } from 'node:module';
import { crc32 } from 'node:zlib';
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';
import type { LoadedRaftState, PersistBatch, RaftStorage, StoredSnapshot } from './types.js';
import { StorageError, toStorageError, type StorageObserver } from './errors.js';
import { planCompact, planPersistRange, type LogShape, type PersistPlan } from './plan.js';
import { encodePersistBatch, type EncodedPersistBatch } from './encoded-batch.js';
import type {
  ByteReader} from './codec.js';
import {
  ByteWriter,
  CodecError,
  decodeWith,
  readEntry,
  decodeHardStateRecord,
  encodeHardStateRecord,
  readSnapshotMeta,
  writeSnapshotMeta,
} from './codec.js';

/** Snapshot data is stored in chunks of this many bytes, so no single value is huge. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

const PREFIX_ENTRY = 0x10;
const PREFIX_HARD_STATE = 0x20;
const PREFIX_SNAP_HEADER = 0x30;
const PREFIX_SNAP_CHUNK = 0x31;
const PREFIX_META = 0x40;
const SNAP_HEADER_VERSION = 1;

const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };

interface BatchOp {
  type: 'put' | 'del';
  key: Buffer;
  value?: Buffer;
}

/** The slice of RocksLevel this driver uses (the package ships no TypeScript types). */
interface RocksDb {
  open(): Promise<void>;
  close(): Promise<void>;
  batch(ops: BatchOp[], options: { sync: boolean }): Promise<void>;
  iterator(options?: Record<string, unknown>): AsyncIterable<[Buffer, Buffer]>;
  /** One RocksDB DeleteRange over [gte, lte] (not synced). */
  clear(options: { gte: Buffer; lte: Buffer }): Promise<void>;
}
/**
 * RocksDB shape. Level compaction on a 32 MiB memtable budget (8 MiB write buffers, L0 compacted
 * at 2 files, L1 of 32 MiB) instead of the library defaults (64 MiB write buffers, L0 compacted
 * at 4 files). Why: opening a database flushes its whole WAL into a new table first, so the
 * free space a member needs to restart is about one write buffer; with 64 MiB buffers a member
 * whose 192 MiB volume had filled could never reopen even after space returned (chaos seed
 * 20261205: a 50 MiB WAL, 42 MiB free). Prompt L0 compaction also drops the log entries that
 * compaction range-deleted and overwritten values, which otherwise sat in up to four L0 tables.
 * The WAL is not compressed (the library's default is ZSTD per record): that ran on the storage
 * thread inside every synced write, ~0.8 µs of CPU per put on each member at 64 clients for
 * payloads that rarely compress; the WAL holds at most the write buffers' data, which restart
 * flushes into an uncompressed L0 table anyway, and RocksDB reads WAL files of either kind.
 */
export const ROCKS_SHAPE = { compaction: 'level', memtableMemoryBudget: 32 * 1024 * 1024, walCompression: false } as const;

type RocksCtor = new (location: string, options: { keyEncoding: string; valueEncoding: string; compaction: string; memtableMemoryBudget: number; walCompression: boolean }) => RocksDb;

const require = createRequire(import.meta.url);
let rocksCtor: RocksCtor | null = null;
function loadRocks(): RocksCtor {
  if (!rocksCtor) rocksCtor = (require('@nxtedition/rocksdb') as { RocksLevel: RocksCtor }).RocksLevel;
  return rocksCtor;
}

function entryKey(index: number): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = PREFIX_ENTRY;
  k.writeUInt32BE(Math.floor(index / 0x100000000), 1);
  k.writeUInt32BE(index >>> 0, 5);
  return k;
}
const HARD_STATE_KEY = Buffer.from([PREFIX_HARD_STATE]);
const SNAP_HEADER_KEY = Buffer.from([PREFIX_SNAP_HEADER]);
function chunkKey(n: number): Buffer {
  const k = Buffer.allocUnsafe(5);
  k[0] = PREFIX_SNAP_CHUNK;
  k.writeUInt32BE(n, 1);
  return k;
}
function metaKey(key: string): Buffer {
  return Buffer.concat([Buffer.from([PREFIX_META]), Buffer.from(key, 'utf8')]);
}
function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Options for RocksRaftStorage. */
export interface RocksRaftStorageOptions {
  /** Told the duration and size of every synced write. */
  readonly observer?: StorageObserver;
  /**
   * Test hook, called before each write batch; a returned error is thrown as if the write
   * failed (e.g. an ENOSPC), so disk-full handling can be tested without filling a disk.
   */
  readonly writeFault?: () => Error | null;
}

/** RaftStorage on a RocksDB directory. Open happens in load(), which must be called first. */
export class RocksRaftStorage implements RaftStorage {
  private db: RocksDb | null = null;
  /**
   * Set when a write failed. RocksDB turns a failed WAL append (ENOSPC, EIO) into a sticky
   * background error: every later write fails the same way even once space has returned, until
   * the database is reopened. So the next write reopens it first.
   */
  private writeFailed = false;
  private shape: LogShape = { snapshotIndex: 0, firstIndex: 1, lastIndex: 0 };
  private snapshotChunks = 0;

  constructor(
    private readonly dir: string,
    private readonly options: RocksRaftStorageOptions = {},
  ) {}

  private openDb(): RocksDb {
    if (!this.db) throw new StorageError('IO', 'storage not loaded: call load() first');
    return this.db;
  }

  private async openFresh(): Promise<RocksDb> {
    const Rocks = loadRocks();
    const db = new Rocks(this.dir, { keyEncoding: 'buffer', valueEncoding: 'buffer', ...ROCKS_SHAPE });
    try {
      await db.open();
    } catch (err) {
      throw toStorageError(err, `open ${this.dir}`);
    }
    return db;
  }

  /**
   * Reopens the database after a failed write (see writeFailed). The failed batch is atomic in
   * the WAL: after reopening it is either wholly there (written, fsync failed) or absent, and
   * the caller retries the same batch, whose puts and deletes are the same either way, so the
   * in-memory shape stays right. While the volume is still full, opening fails with NoSpace and
   * the next retry tries again.
   */
  private async reopenAfterFailure(): Promise<void> {
    const old = this.db;
    this.db = null;
    if (old) await old.close().catch(() => undefined); // a broken handle may refuse to close cleanly
    this.db = await this.openFresh();
    this.writeFailed = false;
  }

  async load(): Promise<LoadedRaftState> {
    if (!this.db) this.db = await this.openFresh();
    try {
      return await this.readAll(this.db);
    } catch (err) {
      if (err instanceof CodecError) {
        throw new StorageError('Corrupt', `${this.dir}: undecodable record: ${err.message}`, { cause: err });
      }
      throw toStorageError(err, `load ${this.dir}`);
    }
  }

  private async readAll(db: RocksDb): Promise<LoadedRaftState> {
    const corrupt = (msg: string): StorageError => new StorageError('Corrupt', `${this.dir}: ${msg}`);
    let hardState = EMPTY_HARD_STATE;
    let header: { meta: SnapshotMeta; dataBytes: number; chunks: number; crc: number } | null = null;
    const chunks: Buffer[] = [];
    const entries: Entry[] = [];
    const meta: Record<string, string> = {};
    for await (const [key, value] of db.iterator()) {
      switch (key[0]) {
        case PREFIX_ENTRY: {
          if (key.length !== 9) throw corrupt(`bad entry key length ${key.length}`);
          const index = key.readUInt32BE(1) * 0x100000000 + key.readUInt32BE(5);
          const e = decodeWith(value, (r) => readEntry(r, true));
          if (e.index !== index) throw corrupt(`entry under key ${index} says index ${e.index}`);
          entries.push(e);
          break;
        }
        case PREFIX_HARD_STATE:
          hardState = decodeHardStateRecord(value);
          break;
        case PREFIX_SNAP_HEADER:
          header = decodeWith(value, (r: ByteReader) => {
            const version = r.u8();
            if (version !== SNAP_HEADER_VERSION) throw new CodecError(`unknown snapshot header version ${version}`);
            return { meta: readSnapshotMeta(r), dataBytes: r.uvarint(), chunks: r.uvarint(), crc: r.u32() };
          });
          break;
        case PREFIX_SNAP_CHUNK: {
          if (key.length !== 5) throw corrupt(`bad snapshot chunk key length ${key.length}`);
          const n = key.readUInt32BE(1);
          if (n !== chunks.length) throw corrupt(`snapshot chunk ${n} found where ${chunks.length} expected`);
          chunks.push(value);
          break;
        }
        case PREFIX_META:
          meta[key.subarray(1).toString('utf8')] = value.toString('utf8');
          break;
        default:
          throw corrupt(`unknown key prefix 0x${(key[0] ?? 0).toString(16)}`);
      }
    }
    let snapshot: StoredSnapshot | null = null;
    if (header) {
      if (chunks.length !== header.chunks) {
        throw corrupt(`snapshot has ${chunks.length} chunks, header says ${header.chunks}`);
      }
      const data = Buffer.concat(chunks);
      if (data.length !== header.dataBytes) {
        throw corrupt(`snapshot data is ${data.length} bytes, header says ${header.dataBytes}`);
      }
      if (crc32(data) !== header.crc) throw corrupt('snapshot data checksum mismatch');
      snapshot = { meta: header.meta, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    } else if (chunks.length > 0) {
      throw corrupt('snapshot chunks without a snapshot header');
    }
    const snapshotIndex = snapshot?.meta.index ?? 0;
    // Entries at or below the snapshot are compacted ones whose (unsynced) range delete a crash
    // lost: dead, not corruption.
    const stale = entries.findIndex((e) => e.index > snapshotIndex);
    entries.splice(0, stale === -1 ? entries.length : stale);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry;
      const expected = i === 0 ? (snapshot ? snapshotIndex + 1 : e.index) : (entries[i - 1] as Entry).index + 1;
      if (e.index !== expected) {
        throw corrupt(`log not contiguous: found entry ${e.index} where ${expected} expected (snapshot index ${snapshotIndex})`);
      }
    }
    const firstIndex = entries[0]?.index ?? snapshotIndex + 1;
    const lastIndex = entries[entries.length - 1]?.index ?? snapshotIndex;
    if (hardState.commit > lastIndex) {
      throw corrupt(`hard state commit ${hardState.commit} beyond last stored index ${lastIndex}`);
    }
    this.shape = { snapshotIndex, firstIndex, lastIndex };
    this.snapshotChunks = chunks.length;
    return { hardState, snapshot, entries, meta };
  }

  private snapshotOps(ops: BatchOp[], snapshot: StoredSnapshot): number {
    const data = snapshot.data;
    const count = Math.ceil(data.length / SNAPSHOT_CHUNK_BYTES);
    const w = new ByteWriter(64);
    w.u8(SNAP_HEADER_VERSION);
    writeSnapshotMeta(w, snapshot.meta);
    w.uvarint(data.length);
    w.uvarint(count);
    w.u32(crc32(data));
    ops.push({ type: 'put', key: SNAP_HEADER_KEY, value: toBuffer(w.finish()) });
    for (let i = 0; i < count; i++) {
      const chunk = data.subarray(i * SNAPSHOT_CHUNK_BYTES, Math.min(data.length, (i + 1) * SNAPSHOT_CHUNK_BYTES));
      ops.push({ type: 'put', key: chunkKey(i), value: toBuffer(chunk) });
    }
    for (let i = count; i < this.snapshotChunks; i++) ops.push({ type: 'del', key: chunkKey(i) });
    return count;
  }

  private deleteOps(ops: BatchOp[], plan: PersistPlan): void {
    for (let i = plan.deleteFrom; i <= plan.deleteTo; i++) ops.push({ type: 'del', key: entryKey(i) });
  }

  private async write(ops: BatchOp[], what: string): Promise<void> {
    if (this.writeFailed) await this.reopenAfterFailure();
    const db = this.openDb();
    let bytes = 0;
    for (const op of ops) bytes += op.key.length + (op.value?.length ?? 0);
    const started = performance.now();
    const fault = this.options.writeFault?.();
    if (fault) throw toStorageError(fault, what); // injected: the database itself stays healthy
    try {
      await db.batch(ops, { sync: true });
    } catch (err) {
      this.writeFailed = true;
      throw toStorageError(err, what);
    }
    this.options.observer?.onPersist(performance.now() - started, bytes);
  }

  async persist(batch: PersistBatch): Promise<void> {
    await this.persistEncoded(encodePersistBatch(batch));
  }

  /** persist() for a batch already encoded (how the storage thread receives it). */
  async persistEncoded(batch: EncodedPersistBatch): Promise<void> {
    const count = batch.ends.length;
    const plan = planPersistRange(this.shape, batch.snapshot?.meta, count > 0 ? { first: batch.firstIndex, last: batch.firstIndex + count - 1 } : null);
    const ops: BatchOp[] = [];
    // Deletes first: a later put of the same key in the batch wins.
    this.deleteOps(ops, plan);
    let chunks = this.snapshotChunks;
    if (batch.snapshot) chunks = this.snapshotOps(ops, batch.snapshot);
    const values = toBuffer(batch.values);
    let start = 0;
    for (let i = 0; i < count; i++) {
      const end = batch.ends[i] as number;
      // Views of the batch's own buffer, which nothing writes to again.
      ops.push({ type: 'put', key: entryKey(batch.firstIndex + i), value: values.subarray(start, end) });
      start = end;
    }
    if (batch.hardState) {
      ops.push({ type: 'put', key: HARD_STATE_KEY, value: toBuffer(encodeHardStateRecord(batch.hardState)) });
    }
    if (ops.length === 0) return;
    await this.write(ops, 'persist');
    this.shape = plan.next;
    this.snapshotChunks = chunks;
  }

  async saveSnapshotAndCompact(snapshot: StoredSnapshot): Promise<void> {
    const plan = planCompact(this.shape, snapshot.meta);
    if (!plan) return;
    const ops: BatchOp[] = [];
    const chunks = this.snapshotOps(ops, snapshot);
    await this.write(ops, 'saveSnapshotAndCompact');
    this.shape = plan.next;
    this.snapshotChunks = chunks;
    // The compacted entries go with one range tombstone after the snapshot is durable, instead
    // of one delete per entry inside the synced batch: 10,000 deletes made every snapshot stall
    // the member's log writes for ~60 ms (all members at once, as they snapshot at the same
    // index), the p99.9 of a PUT benchmark. Entries at or below the snapshot index are dead
    // either way: if a crash loses this unsynced delete, load() skips them and the next
    // compaction's range (from index 0) removes them.
    try {
      await this.openDb().clear({ gte: entryKey(0), lte: entryKey(snapshot.meta.index) });
    } catch {
      // The snapshot is durable; only dead entries stay (see above). A database that refused the
      // range delete (a full disk) is reopened before the next write, which then reports it.
      this.writeFailed = true;
    }
  }

  async putMeta(key: string, value: string): Promise<void> {
    await this.write([{ type: 'put', key: metaKey(key), value: Buffer.from(value, 'utf8') }], 'putMeta');
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = null;
    if (db) {
      try {
        await db.close();
      } catch (err) {
        throw toStorageError(err, `close ${this.dir}`);
      }
    }
  }
}
