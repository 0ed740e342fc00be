// The bookkeeping both storage drivers share: validating a batch against the stored log shape and
// working out which stored entries it replaces. Pure, so a failed write leaves nothing changed.
import type { Entry, SnapshotMeta } from '../raft/types.js';
import type { PersistBatch } from './types.js';
import { StorageError } from './errors.js';

/** The shape of the stored log: entries (firstIndex..lastIndex) follow the snapshot at snapshotIndex. */
export interface LogShape {
  readonly snapshotIndex: number;
  /** Index of the first stored entry; snapshotIndex + 1 when the log is empty. */
  readonly firstIndex: number;
  /** Index of the last stored entry; snapshotIndex when the log is empty. */
  readonly lastIndex: number;
}

/** What one persist does to the log: delete stored [deleteFrom, deleteTo] and append `entries`. */
export interface PersistPlan {
  readonly deleteFrom: number;
  readonly deleteTo: number;
  readonly next: LogShape;
}

/** Checks that `entries` are contiguous (each index one more than the previous). */
export function checkContiguous(entries: readonly Entry[], what: string): void {
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1] as Entry;
    const cur = entries[i] as Entry;
    if (cur.index !== prev.index + 1) {
      throw new StorageError('IO', `${what}: entries not contiguous (${prev.index} then ${cur.index})`);
    }
  }
}

/**
 * Plans a persist. Rejects (as a caller bug, code IO, nothing written) a batch whose entries would
 * leave a gap or overwrite the snapshot.
 */
export function planPersist(shape: LogShape, batch: PersistBatch): PersistPlan {
  checkContiguous(batch.entries, 'persist');
  const first = batch.entries[0];
  const last = batch.entries[batch.entries.length - 1];
  return planPersistRange(shape, batch.snapshot?.meta, first && last ? { first: first.index, last: last.index } : null);
}

/**
 * planPersist for a batch known by its snapshot (if any) and the index range of its contiguous
 * entries (null when it has none).
 */
export function planPersistRange(shape: LogShape, snapshotMeta: SnapshotMeta | undefined, entries: { readonly first: number; readonly last: number } | null): PersistPlan {
  let { snapshotIndex, firstIndex, lastIndex } = shape;
  let deleteFrom = Infinity;
  let deleteTo = -Infinity;
  if (snapshotMeta) {
    // A received snapshot replaces the whole stored log, also entries after its index.
    if (lastIndex >= firstIndex) {
      deleteFrom = firstIndex;
      deleteTo = lastIndex;
    }
    snapshotIndex = snapshotMeta.index;
    firstIndex = snapshotIndex + 1;
    lastIndex = snapshotIndex;
  }
  if (entries) {
    const { first, last } = entries;
    if (first <= snapshotIndex || first > lastIndex + 1) {
      throw new StorageError('IO', `persist: entries start at ${first} but the log holds (${snapshotIndex}, ${lastIndex}]`);
    }
    if (snapshotMeta === undefined && last < lastIndex) {
      // Replacing a suffix with a shorter one: stored entries beyond the new last must go
      // (the ones up to it are overwritten by the puts).
      deleteFrom = last + 1;
      deleteTo = lastIndex;
    }
    if (lastIndex < firstIndex) firstIndex = first;
    lastIndex = last;
  }
  return { deleteFrom, deleteTo, next: { snapshotIndex, firstIndex, lastIndex } };
}

/** Plans a compaction to `meta`: entries up to meta.index go; later ones stay. Null if the snapshot is not newer. */
export function planCompact(shape: LogShape, meta: SnapshotMeta): PersistPlan | null {
  if (meta.index <= shape.snapshotIndex) return null;
  const deleteFrom = shape.firstIndex;
  const deleteTo = Math.min(meta.index, shape.lastIndex);
  const lastIndex = Math.max(shape.lastIndex, meta.index);
  return {
    deleteFrom,
    deleteTo,
    next: { snapshotIndex: meta.index, firstIndex: meta.index + 1, lastIndex },
  };
}
