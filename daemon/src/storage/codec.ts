// Compact binary codecs for raft's persistent shapes (Entry, HardState, SnapshotMeta), shared by
// the storage drivers and the transport frame codec. No JSON: unsigned LEB128 varints for numbers,
// length-prefixed UTF-8 for strings, raw bytes for payloads.
import type { ConfState, Entry, EntryType, HardState, SnapshotMeta } from '../raft/types.js';

/** Raised by ByteReader on truncated or malformed input; callers turn it into their own error type. */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Largest string (bytes) any codec accepts; node ids, trace parents and meta keys are far below it. */
export const MAX_CODEC_STRING_BYTES = 64 * 1024;

/** A growable write buffer. `finish()` returns a view of the written bytes (no copy). */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  /** Bytes written so far. */
  pos = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0);
    this.pos += 4;
  }

  /** Writes a u32 at an earlier position (length prefixes filled in after the body). */
  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0);
  }

  /** Unsigned varint for a safe non-negative integer (up to 2^53). */
  uvarint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new CodecError(`not a non-negative safe integer: ${v}`);
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.raw(b);
  }

  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit; reserve the varint room too.
    const max = s.length * 3;
    this.ensure(max + 5);
    if (s.length < 0x80 / 3) {
      // One-byte length prefix: encode straight into place.
      const lenAt = this.pos++;
      const { written } = textEncoder.encodeInto(s, this.buf.subarray(this.pos));
      this.buf[lenAt] = written;
      this.pos += written;
      return;
    }
    const encoded = textEncoder.encode(s);
    this.bytes(encoded);
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** A bounds-checked reader; every read past the end throws CodecError. */
export class ByteReader {
  pos: number;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw new CodecError('truncated: u8');
    return this.buf[this.pos++] as number;
  }

  u32(): number {
    if (this.pos + 4 > this.end) throw new CodecError('truncated: u32');
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  uvarint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw new CodecError('truncated: varint');
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw new CodecError('varint exceeds 2^53');
        return result;
      }
      mul *= 0x80;
    }
    throw new CodecError('varint too long');
  }

  /** A view (no copy) of the next `len` bytes. */
  raw(len: number): Uint8Array {
    if (len < 0 || this.pos + len > this.end) throw new CodecError(`truncated: ${len} bytes`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  bytes(): Uint8Array {
    return this.raw(this.uvarint());
  }

  /** A copy of the input between reader positions `from` and `to` (already read or not). */
  copyRange(from: number, to: number): Uint8Array {
    if (from < 0 || to < from || to > this.end) throw new CodecError(`bad range ${from}..${to}`);
    return this.buf.slice(from, to);
  }

  /** Like bytes() but copies, so the result does not pin the input buffer. */
  bytesCopy(): Uint8Array {
    return new Uint8Array(this.bytes());
  }

  string(): string {
    const len = this.uvarint();
    if (len > MAX_CODEC_STRING_BYTES) throw new CodecError(`string too long: ${len}`);
    try {
      return textDecoder.decode(this.raw(len));
    } catch (err) {
      if (err instanceof CodecError) throw err;
      throw new CodecError('invalid utf-8');
    }
  }
}

const MAX_ENTRY_TYPE = 2;

/** Appends one entry: term, index, type, data. */
export function writeEntry(w: ByteWriter, e: Entry): void {
  w.uvarint(e.term);
  w.uvarint(e.index);
  w.u8(e.type);
  w.bytes(e.data);
}

/** Reads one entry; `copy` detaches the data from the input buffer (storage keeps entries long). */
export function readEntry(r: ByteReader, copy: boolean): Entry {
  const term = r.uvarint();
  const index = r.uvarint();
  const type = r.u8();
  if (type > MAX_ENTRY_TYPE) throw new CodecError(`unknown entry type ${type}`);
  const data = copy ? r.bytesCopy() : r.bytes();
  return { term, index, type: type as EntryType, data };
}

/** Appends a hard state's term, vote and commit (the vote floor: see encodeHardStateRecord). */
export function writeHardState(w: ByteWriter, hs: HardState): void {
  w.uvarint(hs.term);
  w.string(hs.vote);
  w.uvarint(hs.commit);
}

export function readHardState(r: ByteReader): HardState {
  const term = r.uvarint();
  const vote = r.string();
  const commit = r.uvarint();
  return { term, vote, commit };
}

/**
 * The stored hard state: term, vote, commit, then the vote floor only when it is set. A record
 * without it is what members wrote before the floor was durable and reads as floor 0.
 */
export function encodeHardStateRecord(hs: HardState): Uint8Array {
  const w = new ByteWriter(32);
  writeHardState(w, hs);
  if (hs.voteFloor !== undefined && hs.voteFloor > 0) w.uvarint(hs.voteFloor);
  return w.finish();
}

/** Reads a whole stored hard state record (CodecError on trailing bytes after the floor). */
export function decodeHardStateRecord(buf: Uint8Array): HardState {
  return decodeWith(buf, (r) => {
    const hs = readHardState(r);
    return r.remaining() === 0 ? hs : { ...hs, voteFloor: r.uvarint() };
  });
}

/** Bound on voters+learners in a decoded ConfState, so garbage cannot allocate huge arrays. */
export const MAX_CONF_MEMBERS = 1024;

function writeIds(w: ByteWriter, ids: readonly string[]): void {
  w.uvarint(ids.length);
  for (const id of ids) w.string(id);
}

function readIds(r: ByteReader): string[] {
  const n = r.uvarint();
  if (n > MAX_CONF_MEMBERS) throw new CodecError(`too many members: ${n}`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.string());
  return out;
}

/** Appends snapshot metadata: index, term, voters, learners. */
export function writeSnapshotMeta(w: ByteWriter, m: SnapshotMeta): void {
  w.uvarint(m.index);
  w.uvarint(m.term);
  writeIds(w, m.confState.voters);
  writeIds(w, m.confState.learners);
}

export function readSnapshotMeta(r: ByteReader): SnapshotMeta {
  const index = r.uvarint();
  const term = r.uvarint();
  const voters = readIds(r);
  const learners = readIds(r);
  const confState: ConfState = { voters, learners };
  return { index, term, confState };
}

/** Encodes a value with `write` into a standalone byte array. */
export function encodeWith<T>(value: T, write: (w: ByteWriter, v: T) => void, sizeHint = 64): Uint8Array {
  const w = new ByteWriter(sizeHint);
  write(w, value);
  return w.finish();
}

/** Decodes a whole buffer with `read`; trailing bytes are an error (they signal corruption). */
export function decodeWith<T>(buf: Uint8Array, read: (r: ByteReader) => T): T {
  const r = new ByteReader(buf);
  const v = read(r);
  if (r.remaining() !== 0) throw new CodecError(`${r.remaining()} trailing bytes`);
  return v;
}
