// Worker-thread side of WorkerRaftStorage: owns a RocksRaftStorage so RocksDB's synchronous
// fsync (the binding writes batches synchronously) blocks this thread, not the daemon's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { RocksRaftStorage } from './rocks-raft-storage.js';
import { StorageError } from './errors.js';
import type { WorkerRequest, WorkerResponse } from './worker-raft-storage.js';

const port = parentPort;
if (!port) throw new Error('rocks-worker must run in a worker thread');
const { dir } = workerData as { dir: string };
let persisted: { durationMs: number; bytes: number } | null = null;
const storage = new RocksRaftStorage(dir, {
  observer: { onPersist: (durationMs, bytes) => (persisted = { durationMs, bytes }) },
});

port.on('message', (req: WorkerRequest) => {
  void handle(req).then((res) => port.postMessage(res));
});

async function handle(req: WorkerRequest): Promise<WorkerResponse> {
  persisted = null;
  try {
    let result: unknown = undefined;
    switch (req.op) {
      case 'load':
        result = await storage.load();
        break;
      case 'persist':
        await storage.persist(req.batch);
        break;
      case 'saveSnapshotAndCompact':
        await storage.saveSnapshotAndCompact(req.snapshot);
        break;
      case 'putMeta':
        await storage.putMeta(req.key, req.value);
        break;
      case 'close':
        await storage.close();
        break;
    }
    return { id: req.id, ok: true, result, persisted };
  } catch (err) {
    const code = err instanceof StorageError ? err.code : 'IO';
    return { id: req.id, ok: false, code, message: err instanceof Error ? err.message : String(err) };
  }
}
