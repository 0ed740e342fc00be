// The storage boundary the driver uses: one synced write per Ready, and a restart read.
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';

/** A state machine image with the raft position it reflects. */
export interface StoredSnapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/** Everything a member finds on disk at start. `snapshot` is null for a never-initialised dir. */
export interface LoadedRaftState {
  readonly hardState: HardState;
  readonly snapshot: StoredSnapshot | null;
  /** Entries after the snapshot index, contiguous. */
  readonly entries: readonly Entry[];
  /** Free-form metadata the daemon keeps (member addresses, cluster id). */
  readonly meta: Readonly<Record<string, string>>;
}

/** One durable step: written atomically and synced before the promise resolves. */
export interface PersistBatch {
  readonly hardState?: HardState;
  /** Replace stored entries from entries[0].index on with these. */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: replaces the log up to its index. */
  readonly snapshot?: StoredSnapshot;
}

/**
 * Raft's stable storage (log, hard state, snapshot). Implementations: RocksRaftStorage
 * (rocks-raft-storage.ts) and MemoryRaftStorage (memory-raft-storage.ts, for tests and the
 * simulator). Calls are not concurrent: the driver awaits each before the next.
 */
export interface RaftStorage {
  /** Reads the whole persisted state. Call once, before anything else. */
  load(): Promise<LoadedRaftState>;
  /** Writes the batch atomically and fsyncs before resolving (group commit point). */
  persist(batch: PersistBatch): Promise<void>;
  /** Stores a locally taken snapshot and deletes log entries up to and including `snapshot.meta.index`. */
  saveSnapshotAndCompact(snapshot: StoredSnapshot): Promise<void>;
  /** Stores daemon metadata (synced). */
  putMeta(key: string, value: string): Promise<void>;
  close(): Promise<void>;
}
