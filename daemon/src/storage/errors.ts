// Typed storage failures, so the driver can tell "disk full, retry later" from "data is bad".

/** NoSpace: the device is full (retry after space returns). IO: any other write/read failure. Corrupt: stored data is unreadable or inconsistent. */
export type StorageErrorCode = 'NoSpace' | 'IO' | 'Corrupt';

/**
 * The only error a RaftStorage rejects with. After a NoSpace/IO rejection the store is unchanged
 * (the failed batch left no trace) and later calls may succeed. Corrupt comes from load() only.
 */
export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

/** Maps an error from the database/filesystem to a StorageError (ENOSPC → NoSpace, corruption → Corrupt). */
export function toStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOSPC' || /no space left|ENOSPC/i.test(message)) {
    return new StorageError('NoSpace', `${what}: no space left on device (${message})`, { cause: err });
  }
  if (/corrupt/i.test(message)) return new StorageError('Corrupt', `${what}: ${message}`, { cause: err });
  return new StorageError('IO', `${what}: ${message}`, { cause: err });
}

/** Receives timing of every durable write so observability can histogram it (no prom-client dependency here). */
export interface StorageObserver {
  /** Called after each successful synced write: wall time of the write+fsync and the bytes written. */
  onPersist(durationMs: number, bytes: number): void;
}
