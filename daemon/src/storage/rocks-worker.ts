// The storage worker thread behind WorkerRaftStorage: owns one RocksRaftStorage, so RocksDB's
// synchronous writes and fsyncs block this thread, not the member's event loop, and runs the
// calls the main thread sends in arrival order. Protocol: see worker-raft-storage.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { RocksRaftStorage } from './rocks-raft-storage.js';
import { StorageError } from './errors.js';
import type { StorageWorkerData, WorkerRequest, WorkerResponse } from './worker-raft-storage.js';

const port = parentPort;
if (!port) throw new Error('rocks-worker.js must run as a worker thread');
const { dir } = workerData as StorageWorkerData;
let persisted: { durationMs: number; bytes: number } | null = null;
const storage = new RocksRaftStorage(dir, {
  observer: { onPersist: (durationMs, bytes) => (persisted = { durationMs, bytes }) },
});

async function run(req: WorkerRequest): Promise<unknown> {
  switch (req.op) {
    case 'load':
      return storage.load();
    case 'persist':
      return storage.persistEncoded(req.batch);
    case 'saveSnapshotAndCompact':
      return storage.saveSnapshotAndCompact(req.snapshot);
    case 'putMeta':
      return storage.putMeta(req.key, req.value);
    case 'close':
      return storage.close();
  }
}

// One call at a time, in arrival order: a persist must never overtake the one before it.
let queue: Promise<void> = Promise.resolve();
port.on('message', (req: WorkerRequest) => {
  queue = queue.then(() => handle(req)).then((res) => port.postMessage(res));
});

async function handle(req: WorkerRequest): Promise<WorkerResponse> {
  persisted = null;
  try {
    const result = await run(req);
    return { id: req.id, ok: true, result, persisted };
  } catch (err) {
    const code = err instanceof StorageError ? err.code : 'IO';
    return { id: req.id, ok: false, code, message: err instanceof Error ? err.message : String(err) };
  }
}
