// RocksRaftStorage moved onto a worker thread. @nxtedition/rocksdb writes batches synchronously,
// so an fsync (milliseconds) would stall the daemon's event loop — network, timers, API — on
// every persist. Here the main thread only posts the batch and awaits the reply. Same contract
// as RaftStorage; errors arrive as StorageError with the worker's code.
import { Worker } from 'node:worker_threads';
import type { LoadedRaftState, PersistBatch, RaftStorage, StoredSnapshot } from './types.js';
import { StorageError, type StorageErrorCode, type StorageObserver } from './errors.js';

/** A request to the storage worker (internal protocol). */
export type WorkerRequest =
  | { readonly id: number; readonly op: 'load' }
  | { readonly id: number; readonly op: 'persist'; readonly batch: PersistBatch }
  | { readonly id: number; readonly op: 'saveSnapshotAndCompact'; readonly snapshot: StoredSnapshot }
  | { readonly id: number; readonly op: 'putMeta'; readonly key: string; readonly value: string }
  | { readonly id: number; readonly op: 'close' };

/** The worker's reply (internal protocol). */
export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown; readonly persisted: { durationMs: number; bytes: number } | null }
  | { readonly id: number; readonly ok: false; readonly code: StorageErrorCode; readonly message: string };

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;

/** Options for WorkerRaftStorage. */
export interface WorkerRaftStorageOptions {
  readonly observer?: StorageObserver;
}

/** RaftStorage backed by RocksRaftStorage on a dedicated worker thread (recommended for the daemon). */
export class WorkerRaftStorage implements RaftStorage {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly dir: string,
    private readonly options: WorkerRaftStorageOptions = {},
  ) {}

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./rocks-worker.js', import.meta.url), { workerData: { dir: this.dir } });
    w.on('message', (res: WorkerResponse) => {
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      if (res.ok) {
        if (res.persisted) this.options.observer?.onPersist(res.persisted.durationMs, res.persisted.bytes);
        p.resolve(res.result);
      } else p.reject(new StorageError(res.code, res.message));
    });
    const failAll = (err: Error): void => {
      for (const p of this.pending.values()) p.reject(new StorageError('IO', `storage worker failed: ${err.message}`, { cause: err }));
      this.pending.clear();
      this.worker = null;
    };
    w.on('error', failAll);
    w.on('exit', (code) => failAll(new Error(`exited with code ${code}`)));
    this.worker = w;
    return w;
  }

  private call(req: Distribute<WorkerRequest>): Promise<unknown> {
    const w = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id });
    });
  }

  async load(): Promise<LoadedRaftState> {
    return (await this.call({ op: 'load' })) as LoadedRaftState;
  }

  async persist(batch: PersistBatch): Promise<void> {
    await this.call({ op: 'persist', batch });
  }

  async saveSnapshotAndCompact(snapshot: StoredSnapshot): Promise<void> {
    await this.call({ op: 'saveSnapshotAndCompact', snapshot });
  }

  async putMeta(key: string, value: string): Promise<void> {
    await this.call({ op: 'putMeta', key, value });
  }

  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    await this.call({ op: 'close' });
    this.worker = null;
    w.removeAllListeners('exit');
    await w.terminate();
  }
}
