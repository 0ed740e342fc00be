// The in-memory twin of RocksRaftStorage: same semantics and validation, nothing on disk.
// Used by unit tests and the simulator; can inject write failures to exercise disk-full paths.
import type { Entry, HardState } from '../raft/types.js';
import type { LoadedRaftState, PersistBatch, RaftStorage, StoredSnapshot } from './types.js';
import { StorageError, type StorageErrorCode, type StorageObserver } from './errors.js';
import { planCompact, planPersist, type LogShape } from './plan.js';

const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };

/** Options for MemoryRaftStorage. */
export interface MemoryRaftStorageOptions {
  readonly observer?: StorageObserver;
}

/** A RaftStorage held in memory. State survives close()/load() on the same instance (a "restart"). */
export class MemoryRaftStorage implements RaftStorage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snapshot: StoredSnapshot | null = null;
  /** entries[i] has index shape.firstIndex + i. */
  private entries: Entry[] = [];
  private shape: LogShape = { snapshotIndex: 0, firstIndex: 1, lastIndex: 0 };
  private readonly meta = new Map<string, string>();
  private failures: { count: number; code: StorageErrorCode } = { count: 0, code: 'IO' };
  private readonly observer: StorageObserver | undefined;

  constructor(options: MemoryRaftStorageOptions = {}) {
    this.observer = options.observer;
  }

  /** Test hook: the next `count` writes reject with StorageError(code) and change nothing. */
  failNextWrites(count: number, code: StorageErrorCode = 'NoSpace'): void {
    this.failures = { count, code };
  }

  private checkFault(what: string): void {
    if (this.failures.count > 0) {
      this.failures.count--;
      throw new StorageError(this.failures.code, `${what}: injected ${this.failures.code} failure`);
    }
  }

  async load(): Promise<LoadedRaftState> {
    return {
      hardState: this.hardState,
      snapshot: this.snapshot,
      entries: this.entries.slice(),
      meta: Object.fromEntries(this.meta),
    };
  }

  async persist(batch: PersistBatch): Promise<void> {
    const started = performance.now();
    const plan = planPersist(this.shape, batch);
    this.checkFault('persist');
    if (batch.snapshot) {
      this.snapshot = batch.snapshot;
      this.entries = [];
    }
    const first = batch.entries[0];
    if (first) {
      const keep = first.index - plan.next.firstIndex;
      this.entries.length = Math.max(0, Math.min(this.entries.length, keep));
      this.entries.push(...batch.entries);
    }
    if (batch.hardState) this.hardState = batch.hardState;
    this.shape = plan.next;
    let bytes = 0;
    for (const e of batch.entries) bytes += e.data.length + 16;
    if (batch.snapshot) bytes += batch.snapshot.data.length;
    this.observer?.onPersist(performance.now() - started, bytes);
  }

  async saveSnapshotAndCompact(snapshot: StoredSnapshot): Promise<void> {
    const plan = planCompact(this.shape, snapshot.meta);
    if (!plan) return;
    this.checkFault('saveSnapshotAndCompact');
    const drop = Math.min(this.entries.length, snapshot.meta.index - this.shape.firstIndex + 1);
    this.entries.splice(0, Math.max(0, drop));
    this.snapshot = snapshot;
    this.shape = plan.next;
  }

  async putMeta(key: string, value: string): Promise<void> {
    this.checkFault('putMeta');
    this.meta.set(key, value);
  }

  async close(): Promise<void> {}
}
