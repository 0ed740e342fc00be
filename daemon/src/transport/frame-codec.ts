// The wire format between members. A frame is
//   u32 BE bodyLength | u8 version | u8 frameType | body
// where bodyLength counts the bytes after itself (version + type + body) and is at most
// MAX_FRAME_BYTES. Bodies use the compact codecs in storage/codec.ts (varints, length-prefixed
// UTF-8). The streaming FrameDecoder never throws: garbage yields an error result and the decoder
// stays failed (the connection is to be closed).
import { MessageType, type Entry, type Message } from '../raft/types.js';
import {
  ByteReader,
  ByteWriter,
  CodecError,
  readEntry,
  readSnapshotMeta,
  writeEntry,
  writeSnapshotMeta,
} from '../storage/codec.js';

/** Wire protocol version carried in every frame; a different value is rejected. */
export const FRAME_VERSION = 1;
/** Bytes before the body: length (4), version (1), type (1). */
export const FRAME_HEADER_BYTES = 6;
/** Largest accepted frame (length field value). Larger frames are garbage by definition. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Bound on entries decoded from one message frame, so a small frame cannot claim millions. */
export const MAX_ENTRIES_PER_FRAME = 1_000_000;

/** Frame kinds on the wire. */
export const FrameType = {
  /** First frame of every connection: who is calling, for which cluster. */
  Hello: 1,
  /** One raft message (for Snapshot messages: without data). */
  Message: 2,
  /** A Snapshot message whose data follows in SnapshotChunk frames. */
  SnapshotHeader: 3,
  SnapshotChunk: 4,
  Ping: 5,
  Pong: 6,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** A decoded frame. */
export type Frame =
  | {
      readonly kind: 'hello';
      readonly clusterId: string;
      readonly from: string;
      /** The sender's client (HTTP) URL, so members learn where to redirect clients; optional trailing field. */
      readonly clientUrl?: string;
    }
  | { readonly kind: 'message'; readonly message: Message }
  | {
      readonly kind: 'snapshotHeader';
      readonly transferId: number;
      readonly totalBytes: number;
      /** The Snapshot message without snapshotData. */
      readonly message: Message;
    }
  | { readonly kind: 'snapshotChunk'; readonly transferId: number; readonly offset: number; readonly data: Uint8Array }
  | { readonly kind: 'ping'; readonly nonce: number }
  | { readonly kind: 'pong'; readonly nonce: number };

const MAX_MESSAGE_TYPE = 12;
const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;
const FLAG_TRACE = 4;
const FLAG_DATA = 8;

function writeMessage(w: ByteWriter, m: Message, withData: boolean): void {
  w.u8(m.type);
  w.string(m.from);
  w.string(m.to);
  w.uvarint(m.term);
  w.uvarint(m.logTerm);
  w.uvarint(m.index);
  w.uvarint(m.commit);
  w.uvarint(m.rejectHint);
  w.uvarint(m.rejectHintTerm);
  w.uvarint(m.context);
  const hasData = withData && m.snapshotData !== undefined;
  w.u8(
    (m.reject ? FLAG_REJECT : 0) |
      (m.snapshot ? FLAG_SNAPSHOT : 0) |
      (m.traceParent !== undefined ? FLAG_TRACE : 0) |
      (hasData ? FLAG_DATA : 0),
  );
  w.uvarint(m.entries.length);
  for (const e of m.entries) writeEntry(w, e);
  if (m.snapshot) writeSnapshotMeta(w, m.snapshot);
  if (m.traceParent !== undefined) w.string(m.traceParent);
  if (hasData && m.snapshotData) w.bytes(m.snapshotData);
}

/**
 * Reads `n` entries whose payloads share one copy of their region of the frame: one allocation
 * per message instead of one per entry (they enter the log together and leave it together), and
 * the frame buffer is not pinned.
 */
function readEntriesDetached(r: ByteReader, n: number): Entry[] {
  const entries: Entry[] = new Array<Entry>(n);
  if (n === 0) return entries;
  const start = r.pos;
  // The array-buffer offset of reader position 0, to place each payload view in the copy.
  const origin = r.raw(0).byteOffset - start;
  for (let i = 0; i < n; i++) entries[i] = readEntry(r, false);
  const region = r.copyRange(start, r.pos);
  for (let i = 0; i < n; i++) {
    const e = entries[i] as Entry;
    const at = e.data.byteOffset - origin - start;
    entries[i] = { term: e.term, index: e.index, type: e.type, data: region.subarray(at, at + e.data.length) };
  }
  return entries;
}

function readMessage(r: ByteReader): Message {
  const type = r.u8();
  if (type < 1 || type > MAX_MESSAGE_TYPE) throw new CodecError(`unknown message type ${type}`);
  const from = r.string();
  const to = r.string();
  const term = r.uvarint();
  const logTerm = r.uvarint();
  const index = r.uvarint();
  const commit = r.uvarint();
  const rejectHint = r.uvarint();
  const rejectHintTerm = r.uvarint();
  const context = r.uvarint();
  const flags = r.u8();
  if (flags > 15) throw new CodecError(`unknown message flags ${flags}`);
  const n = r.uvarint();
  // Every entry takes at least 4 bytes, so a count beyond that is a lie (and would allocate).
  if (n > MAX_ENTRIES_PER_FRAME || n * 4 > r.remaining()) throw new CodecError(`bad entry count ${n}`);
  const entries = readEntriesDetached(r, n);
  const base = {
    type: type as MessageType,
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & FLAG_REJECT) !== 0,
    rejectHint,
    rejectHintTerm,
    context,
  };
  const snapshot = flags & FLAG_SNAPSHOT ? readSnapshotMeta(r) : undefined;
  const traceParent = flags & FLAG_TRACE ? r.string() : undefined;
  const snapshotData = flags & FLAG_DATA ? r.bytesCopy() : undefined;
  // exactOptionalPropertyTypes: leave absent fields out rather than set them to undefined.
  const m: { -readonly [K in keyof Message]: Message[K] } = base;
  if (snapshot) m.snapshot = snapshot;
  if (traceParent !== undefined) m.traceParent = traceParent;
  if (snapshotData) m.snapshotData = snapshotData;
  return m;
}

function estimateMessageBytes(m: Message): number {
  let n = 64 + m.from.length * 3 + m.to.length * 3 + (m.traceParent?.length ?? 0) * 3;
  for (const e of m.entries) n += e.data.length + 24;
  if (m.snapshot) n += 32 + (m.snapshot.confState.voters.length + m.snapshot.confState.learners.length) * 32;
  if (m.snapshotData) n += m.snapshotData.length + 8;
  return n;
}

function begin(w: ByteWriter, type: FrameType): number {
  const at = w.pos;
  w.u32(0);
  w.u8(FRAME_VERSION);
  w.u8(type);
  return at;
}
function end(w: ByteWriter, at: number): void {
  w.patchU32(at, w.pos - at - 4);
}

/** Encodes one frame into a fresh byte array (its own buffer, safe to queue). */
export function encodeFrame(frame: Frame): Uint8Array {
  let hint = 32;
  if (frame.kind === 'message' || frame.kind === 'snapshotHeader') hint = estimateMessageBytes(frame.message);
  else if (frame.kind === 'snapshotChunk') hint = frame.data.length + 32;
  const w = new ByteWriter(hint);
  writeFrame(w, frame);
  return w.finish();
}

/** Appends one frame to `w` (several frames can share one buffer, one socket write). */
export function writeFrame(w: ByteWriter, frame: Frame): void {
  switch (frame.kind) {
    case 'hello': {
      const at = begin(w, FrameType.Hello);
      w.string(frame.clusterId);
      w.string(frame.from);
      if (frame.clientUrl !== undefined) w.string(frame.clientUrl);
      end(w, at);
      return;
    }
    case 'message': {
      const at = begin(w, FrameType.Message);
      writeMessage(w, frame.message, true);
      end(w, at);
      return;
    }
    case 'snapshotHeader': {
      const at = begin(w, FrameType.SnapshotHeader);
      w.uvarint(frame.transferId);
      w.uvarint(frame.totalBytes);
      writeMessage(w, frame.message, false);
      end(w, at);
      return;
    }
    case 'snapshotChunk': {
      const at = begin(w, FrameType.SnapshotChunk);
      w.uvarint(frame.transferId);
      w.uvarint(frame.offset);
      w.bytes(frame.data);
      end(w, at);
      return;
    }
    case 'ping':
    case 'pong': {
      const at = begin(w, frame.kind === 'ping' ? FrameType.Ping : FrameType.Pong);
      w.uvarint(frame.nonce);
      end(w, at);
      return;
    }
  }
}

/** Encodes a message as a Message frame (convenience for the hot path and tests). */
export function encodeMessage(message: Message): Uint8Array {
  return encodeFrame({ kind: 'message', message });
}

function decodeBody(type: number, r: ByteReader): Frame {
  switch (type) {
    case FrameType.Hello: {
      const clusterId = r.string();
      const from = r.string();
      return r.remaining() > 0 ? { kind: 'hello', clusterId, from, clientUrl: r.string() } : { kind: 'hello', clusterId, from };
    }
    case FrameType.Message:
      return { kind: 'message', message: readMessage(r) };
    case FrameType.SnapshotHeader: {
      const transferId = r.uvarint();
      const totalBytes = r.uvarint();
      const message = readMessage(r);
      if (message.type !== MessageType.Snapshot) throw new CodecError('snapshot header carries a non-Snapshot message');
      return { kind: 'snapshotHeader', transferId, totalBytes, message };
    }
    case FrameType.SnapshotChunk:
      return { kind: 'snapshotChunk', transferId: r.uvarint(), offset: r.uvarint(), data: r.bytesCopy() };
    case FrameType.Ping:
      return { kind: 'ping', nonce: r.uvarint() };
    case FrameType.Pong:
      return { kind: 'pong', nonce: r.uvarint() };
    default:
      throw new CodecError(`unknown frame type ${type}`);
  }
}

/** What FrameDecoder.push returns: frames decoded so far, and an error once the stream is bad. */
export type DecodeResult =
  | { readonly ok: true; readonly frames: Frame[] }
  | { readonly ok: false; readonly frames: Frame[]; readonly error: string };

/** Options for FrameDecoder. */
export interface FrameDecoderOptions {
  /** Frames whose length field exceeds this are an error. Default MAX_FRAME_BYTES. */
  readonly maxFrameBytes?: number;
}

/**
 * Turns a byte stream cut into arbitrary chunks into frames. Never throws. After the first error
 * every later push returns that error (the stream cannot be resynchronised).
 */
export class FrameDecoder {
  private buf: Uint8Array = new Uint8Array(0);
  private start = 0;
  private end = 0;
  private error: string | null = null;
  private readonly maxFrameBytes: number;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  }

  /** Bytes buffered but not yet forming a whole frame. */
  get bufferedBytes(): number {
    return this.end - this.start;
  }

  push(chunk: Uint8Array): DecodeResult {
    const frames: Frame[] = [];
    if (this.error !== null) return { ok: false, frames, error: this.error };
    try {
      this.append(chunk);
      for (;;) {
        const avail = this.end - this.start;
        if (avail < 4) break;
        const b = this.buf;
        const s = this.start;
        const len = (((b[s] as number) << 24) >>> 0) + ((b[s + 1] as number) << 16) + ((b[s + 2] as number) << 8) + (b[s + 3] as number);
        if (len < 2) return this.fail(frames, `bad frame length ${len}`);
        if (len > this.maxFrameBytes) return this.fail(frames, `frame of ${len} bytes exceeds max ${this.maxFrameBytes}`);
        if (avail >= 5 && b[s + 4] !== FRAME_VERSION) return this.fail(frames, `unsupported frame version ${b[s + 4]}`);
        if (avail >= 6) {
          const t = b[s + 5] as number;
          if (t < FrameType.Hello || t > FrameType.Pong) return this.fail(frames, `unknown frame type ${t}`);
        }
        if (avail < 4 + len) break;
        const r = new ByteReader(b, s + 6, s + 4 + len);
        const frame = decodeBody(b[s + 5] as number, r);
        if (r.remaining() !== 0) return this.fail(frames, `${r.remaining()} trailing bytes in frame type ${b[s + 5]}`);
        frames.push(frame);
        this.start += 4 + len;
      }
      if (this.start === this.end) {
        this.start = 0;
        this.end = 0;
      }
      return { ok: true, frames };
    } catch (err) {
      return this.fail(frames, err instanceof Error ? err.message : String(err));
    }
  }

  private fail(frames: Frame[], error: string): DecodeResult {
    this.error = error;
    this.buf = new Uint8Array(0);
    this.start = 0;
    this.end = 0;
    return { ok: false, frames, error };
  }

  private append(chunk: Uint8Array): void {
    const used = this.end - this.start;
    if (this.end + chunk.length <= this.buf.length) {
      this.buf.set(chunk, this.end);
      this.end += chunk.length;
      return;
    }
    const need = used + chunk.length;
    if (need <= this.buf.length && this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      let cap = Math.max(4096, this.buf.length);
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(this.start, this.end));
      this.buf = next;
    }
    this.start = 0;
    this.end = used;
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }
}
