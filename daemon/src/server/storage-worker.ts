// The storage worker thread: owns one RocksRaftStorage and runs the calls the main thread sends.
// It exists because the RocksDB binding writes (and fsyncs) synchronously on the calling
// thread; here that blocks only this thread, so the member's event loop keeps serving peers and
// clients while a batch is being made durable. Protocol: see threaded-storage.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { RocksRaftStorage } from '../storage/rocks-raft-storage.js';
import type { StorageRequest, StorageResponse, StorageWorkerData } from './threaded-storage.js';

const port = parentPort;
if (!port) throw new Error('storage-worker.js must run as a worker thread');
const data = workerData as StorageWorkerData;
const storage = new RocksRaftStorage(data.dir);

async function run(req: StorageRequest): Promise<unknown> {
  switch (req.op) {
    case 'load':
      return storage.load();
    case 'persist':
      return storage.persist(req.batch);
    case 'saveSnapshotAndCompact':
      return storage.saveSnapshotAndCompact(req.snapshot);
    case 'putMeta':
      return storage.putMeta(req.key, req.value);
    case 'close':
      return storage.close();
  }
}

port.on('message', (req: StorageRequest) => {
  run(req).then(
    (result) => {
      const res: StorageResponse = { id: req.id, ok: true, result };
      port.postMessage(res);
    },
    (err: unknown) => {
      const e = err as { name?: unknown; code?: unknown; message?: unknown };
      const res: StorageResponse = {
        id: req.id,
        ok: false,
        error: {
          name: typeof e.name === 'string' ? e.name : 'Error',
          code: typeof e.code === 'string' ? e.code : 'IO',
          message: typeof e.message === 'string' ? e.message : String(err),
        },
      };
      port.postMessage(res);
    },
  );
});
