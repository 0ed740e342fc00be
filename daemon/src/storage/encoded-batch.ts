// A PersistBatch in the form the RocksDB driver stores it: every entry already encoded as its
// stored value (codec.writeEntry), all packed in one buffer. The storage thread receives it by
// transfer. Posting the Entry objects instead meant a structured clone of every entry and its
// payload on both threads, 8% of a busy leader's main-thread time and 20% of a follower's.
import type { HardState } from '../raft/types.js';
import { ByteWriter, writeEntry } from './codec.js';
import { checkContiguous } from './plan.js';
import type { PersistBatch, StoredSnapshot } from './types.js';

/** Entries firstIndex, firstIndex+1, ... whose stored values are packed back to back. */
export interface EncodedPersistBatch {
  readonly hardState?: HardState;
  readonly snapshot?: StoredSnapshot;
  /** Index of the first entry (meaningless when there are none). */
  readonly firstIndex: number;
  /** Entry i's stored value is values[ends[i - 1] ?? 0, ends[i]). Its length is the entry count. */
  readonly ends: Uint32Array;
  readonly values: Uint8Array;
}

/** Bytes an entry's header (term, index varints, type, length varint) can take. */
const ENTRY_HEADER_MAX_BYTES = 8 + 8 + 1 + 5;

/** Encodes `batch`; rejects (StorageError IO) entries that are not contiguous. */
export function encodePersistBatch(batch: PersistBatch): EncodedPersistBatch {
  const entries = batch.entries;
  checkContiguous(entries, 'persist');
  let size = 0;
  for (const e of entries) size += e.data.length + ENTRY_HEADER_MAX_BYTES;
  const w = new ByteWriter(size);
  const ends = new Uint32Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    writeEntry(w, entries[i] as (typeof entries)[number]);
    ends[i] = w.pos;
  }
  const out: { -readonly [K in keyof EncodedPersistBatch]: EncodedPersistBatch[K] } = { firstIndex: entries[0]?.index ?? 0, ends, values: w.finish() };
  if (batch.hardState) out.hardState = batch.hardState;
  if (batch.snapshot) out.snapshot = batch.snapshot;
  return out;
}

/**
 * The buffers postMessage may move instead of copy: both belong to this batch alone (the snapshot
 * data does not: the driver still installs it after the write).
 */
export function transferables(b: EncodedPersistBatch): ArrayBuffer[] {
  return [b.values.buffer as ArrayBuffer, b.ends.buffer as ArrayBuffer];
}
