// RaftStorage on a worker thread: the same RocksRaftStorage, but its synchronous RocksDB writes
// and fsyncs run off the member's event loop (see storage-worker.ts). Same contract and the same
// durability: a call resolves only after the worker's synced write returned. Calls are not
// concurrent (the driver awaits each), and the worker runs them in arrival order anyway.
import { Worker } from 'node:worker_threads';
import type { LoadedRaftState, PersistBatch, RaftStorage, StoredSnapshot } from '../storage/types.js';
import { StorageError } from '../storage/errors.js';
import type { StorageErrorCode } from '../storage/errors.js';

/** What the worker is started with. */
export interface StorageWorkerData {
  readonly dir: string;
}

/** One call to the worker. */
export type StorageRequest =
  | { readonly id: number; readonly op: 'load' }
  | { readonly id: number; readonly op: 'persist'; readonly batch: PersistBatch }
  | { readonly id: number; readonly op: 'saveSnapshotAndCompact'; readonly snapshot: StoredSnapshot }
  | { readonly id: number; readonly op: 'putMeta'; readonly key: string; readonly value: string }
  | { readonly id: number; readonly op: 'close' };

/** The worker's answer; errors travel as plain data and are rebuilt as StorageError. */
export type StorageResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: { readonly name: string; readonly code: string; readonly message: string } };

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

const STORAGE_CODES: readonly StorageErrorCode[] = ['NoSpace', 'IO', 'Corrupt'];

/**
 * RaftStorage whose work happens on a dedicated worker thread. `onWorkerDied` is called once if
 * the worker exits or crashes unexpectedly (the member cannot persist any more: stop it).
 */
export class ThreadedRaftStorage implements RaftStorage {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closed = false;
  private dead: Error | null = null;

  constructor(dir: string, private readonly onWorkerDied: (err: Error) => void) {
    const data: StorageWorkerData = { dir };
    this.worker = new Worker(new URL('./storage-worker.js', import.meta.url), { workerData: data });
    this.worker.on('message', (res: StorageResponse) => this.onResponse(res));
    this.worker.on('error', (err) => this.die(err));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.die(new Error(`storage worker exited with code ${code}`));
    });
  }

  private onResponse(res: StorageResponse): void {
    const p = this.pending.get(res.id);
    if (!p) return;
    this.pending.delete(res.id);
    if (res.ok) {
      p.resolve(res.result);
      return;
    }
    const code = STORAGE_CODES.find((c) => c === res.error.code);
    p.reject(code ? new StorageError(code, res.error.message) : new StorageError('IO', `${res.error.name}: ${res.error.message}`));
  }

  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const p of this.pending.values()) p.reject(new StorageError('IO', `storage worker failed: ${err.message}`));
    this.pending.clear();
    if (!this.closed) this.onWorkerDied(err);
  }

  private call(req: DistributiveOmit<StorageRequest, 'id'>): Promise<unknown> {
    if (this.dead) return Promise.reject(new StorageError('IO', `storage worker failed: ${this.dead.message}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id });
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
    if (this.closed) return;
    try {
      if (!this.dead) await this.call({ op: 'close' });
    } finally {
      this.closed = true;
      await this.worker.terminate();
    }
  }
}
