// RocksRaftStorage on a worker thread. @nxtedition/rocksdb writes batches synchronously on the
// calling thread, so an fsync (milliseconds) would stall the member's event loop (peers, timers,
// the API) on every persist. Here the main thread encodes the batch, transfers its buffers and
// awaits the reply. Same contract and durability as RaftStorage: a call resolves only after the
// worker's synced write returned. Calls are not concurrent (the driver awaits each); the worker
// runs them in arrival order anyway.
import { Worker } from 'node:worker_threads';
import type { LoadedRaftState, PersistBatch, RaftStorage, StoredSnapshot } from './types.js';
import { StorageError, type StorageErrorCode, type StorageObserver } from './errors.js';
import { encodePersistBatch, transferables, type EncodedPersistBatch } from './encoded-batch.js';

/** What the worker is started with. */
export interface StorageWorkerData {
  readonly dir: string;
}

/** A request to the storage worker (internal protocol). */
export type WorkerRequest =
  | { readonly id: number; readonly op: 'load' }
  | { readonly id: number; readonly op: 'persist'; readonly batch: EncodedPersistBatch }
  | { readonly id: number; readonly op: 'saveSnapshotAndCompact'; readonly snapshot: StoredSnapshot }
  | { readonly id: number; readonly op: 'putMeta'; readonly key: string; readonly value: string }
  | { readonly id: number; readonly op: 'close' };

/** The worker's reply (internal protocol); errors travel as plain data and are rebuilt here. */
export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown; readonly persisted: { readonly durationMs: number; readonly bytes: number } | null }
  | { readonly id: number; readonly ok: false; readonly code: StorageErrorCode; readonly message: string };

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;

/** Options for WorkerRaftStorage. */
export interface WorkerRaftStorageOptions {
  /** Told the duration and size of every synced write. */
  readonly observer?: StorageObserver;
  /**
   * Called once if the worker exits or crashes while the storage is open: the member cannot
   * persist any more and must stop. Every call after that fails with StorageError IO.
   */
  readonly onWorkerDied?: (err: Error) => void;
}

/** RaftStorage backed by RocksRaftStorage on a dedicated worker thread (the daemon's storage). */
export class WorkerRaftStorage implements RaftStorage {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closed = false;
  private dead: Error | null = null;

  constructor(
    dir: string,
    private readonly options: WorkerRaftStorageOptions = {},
  ) {
    const data: StorageWorkerData = { dir };
    this.worker = new Worker(new URL('./rocks-worker.js', import.meta.url), { workerData: data });
    this.worker.on('message', (res: WorkerResponse) => this.onResponse(res));
    this.worker.on('error', (err) => this.die(err));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.die(new Error(`storage worker exited with code ${code}`));
    });
  }

  private onResponse(res: WorkerResponse): void {
    const p = this.pending.get(res.id);
    if (!p) return;
    this.pending.delete(res.id);
    if (res.ok) {
      if (res.persisted) this.options.observer?.onPersist(res.persisted.durationMs, res.persisted.bytes);
      p.resolve(res.result);
    } else {
      p.reject(new StorageError(res.code, res.message));
    }
  }

  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const p of this.pending.values()) p.reject(new StorageError('IO', `storage worker failed: ${err.message}`, { cause: err }));
    this.pending.clear();
    if (!this.closed) this.options.onWorkerDied?.(err);
  }

  private call(req: Distribute<WorkerRequest>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.dead) return Promise.reject(new StorageError('IO', `storage worker failed: ${this.dead.message}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  async load(): Promise<LoadedRaftState> {
    return (await this.call({ op: 'load' })) as LoadedRaftState;
  }

  async persist(batch: PersistBatch): Promise<void> {
    const encoded = encodePersistBatch(batch);
    await this.call({ op: 'persist', batch: encoded }, transferables(encoded));
  }

  async saveSnapshotAndCompact(snapshot: StoredSnapshot): Promise<void> {
    await this.call({ op: 'saveSnapshotAndCompact', snapshot });
  }

  async putMeta(key: string, value: string): Promise<void> {
    await this.call({ op: 'putMeta', key, value });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.dead) await this.call({ op: 'close' });
    } finally {
      this.closed = true;
      await this.worker.terminate();
    }
  }
}
