// The shipper's buffer of applied entries, kept as segment records already encoded into a few
// large chunks: appending an entry is one copy of its bytes into the open chunk and no
// allocation, so the apply path pays a memcpy per entry and the garbage collector sees a handful
// of buffers instead of an object and an ArrayBuffer per entry. A chunk never grows past the
// segment size, so a segment is (the pending tail of) one chunk.
import { recordAt, recordBytes, writeRecord } from './log-segment.js';
import type { RecordsRange } from './log-segment.js';

/** First capacity of a chunk; it doubles up to the segment size as entries arrive. */
const CHUNK_START_BYTES = 64 * 1024;

interface Chunk {
  buf: Buffer;
  used: number;
  firstIndex: number;
  lastIndex: number;
  revisionBefore: number;
  lastRevision: number;
  /** Wall clock when its first entry was appended. */
  firstAtMs: number;
  /** No more entries go here (it is being shipped, or it reached the segment size). */
  sealed: boolean;
}

/** Records to ship: the bytes and where they sit in the log. */
export interface PendingRecords extends RecordsRange {
  readonly records: Buffer;
}

/** Applied entries not known shipped, bounded by bytes (oldest chunks dropped first). */
export class ShipBuffer {
  private chunks: Chunk[] = [];
  private heldBytes = 0;
  /** Index of the last entry appended (0: none since start or since the last discontinuity). */
  lastIndex = 0;
  /** Entries dropped because the buffer was full. */
  droppedEntries = 0;

  constructor(private readonly segmentMaxBytes: number, private readonly maxBytes: number) {}

  /** Bytes held (chunk capacities). */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Index of the oldest entry held, or undefined. */
  get firstIndex(): number | undefined {
    return this.chunks[0]?.firstIndex;
  }

  /**
   * Appends one applied entry. An entry that does not follow the previous one (a snapshot was
   * installed in between) empties the buffer first. `nowMs` is read only when a chunk starts.
   */
  append(type: number, index: number, term: number, revisionBefore: number, revisionAfter: number, data: Uint8Array, nowMs: () => number): void {
    if (this.lastIndex !== 0 && index !== this.lastIndex + 1) this.clear();
    this.lastIndex = index;
    const need = recordBytes(data.length);
    let c = this.chunks[this.chunks.length - 1];
    if (c !== undefined && !c.sealed && c.used + need > c.buf.length) {
      if (c.used + need <= this.segmentMaxBytes) this.grow(c, Math.min(this.segmentMaxBytes, Math.max(c.buf.length * 2, c.used + need)));
      else c.sealed = true;
    }
    if (c === undefined || c.sealed) {
      c = { buf: Buffer.allocUnsafe(Math.max(need, Math.min(CHUNK_START_BYTES, this.segmentMaxBytes))), used: 0, firstIndex: index, lastIndex: index - 1, revisionBefore, lastRevision: revisionBefore, firstAtMs: nowMs(), sealed: false };
      this.chunks.push(c);
      this.heldBytes += c.buf.length;
    }
    c.used = writeRecord(c.buf, c.used, type, index, term, revisionAfter, data);
    c.lastIndex = index;
    c.lastRevision = revisionAfter;
    while (this.heldBytes > this.maxBytes && this.chunks.length > 1) this.dropOldest();
  }

  private grow(c: Chunk, capacity: number): void {
    const buf = Buffer.allocUnsafe(capacity);
    c.buf.copy(buf, 0, 0, c.used);
    this.heldBytes += capacity - c.buf.length;
    c.buf = buf;
  }

  private dropOldest(): void {
    const c = this.chunks.shift();
    if (c === undefined) return;
    this.heldBytes -= c.buf.length;
    this.droppedEntries += c.lastIndex - c.firstIndex + 1;
  }

  clear(): void {
    this.chunks = [];
    this.heldBytes = 0;
  }

  /** Drops chunks whose entries are all at or below `index` (shipped). */
  dropThrough(index: number): void {
    while (this.chunks.length > 0 && (this.chunks[0] as Chunk).lastIndex <= index) {
      const c = this.chunks.shift() as Chunk;
      this.heldBytes -= c.buf.length;
    }
  }

  /** Wall clock of the oldest entry after `index` (approximate: its chunk's first), or undefined. */
  oldestAfterMs(index: number): number | undefined {
    return this.chunks.find((c) => c.lastIndex > index)?.firstAtMs;
  }

  /** Entries after `index` held. */
  countAfter(index: number): number {
    let n = 0;
    for (const c of this.chunks) if (c.lastIndex > index) n += c.lastIndex - Math.max(index, c.firstIndex - 1);
    return n;
  }

  /** Bytes of records after `index` (whole chunks; approximate for a chunk that straddles it). */
  bytesAfter(index: number): number {
    let n = 0;
    for (const c of this.chunks) if (c.lastIndex > index) n += c.used;
    return n;
  }

  /**
   * The records of the first chunk holding entries after `index` (from index + 1 on), sealing that
   * chunk so later entries start a new one; undefined when nothing after `index` is held. The
   * records are a view: ship them before the buffer changes again.
   */
  takeAfter(index: number): PendingRecords | undefined {
    const c = this.chunks.find((x) => x.lastIndex > index);
    if (c === undefined) return undefined;
    c.sealed = true;
    let off = 0;
    let first = c.firstIndex;
    let revisionBefore = c.revisionBefore;
    // Only after a leader change does the shipped end fall inside a chunk: skip what is shipped.
    while (first <= index) {
      const r = recordAt(c.buf, off);
      revisionBefore = c.buf.readDoubleBE(off + 17);
      off = r.next;
      first = r.index + 1;
    }
    return { records: c.buf.subarray(off, c.used), firstIndex: first, lastIndex: c.lastIndex, revisionBefore, lastRevision: c.lastRevision, entries: c.lastIndex - first + 1 };
  }
}
