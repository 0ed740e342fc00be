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

/** Bound on how deep a chain of `cause`s is followed (a cycle must not hang the mapper). */
const MAX_CAUSE_DEPTH = 8;

/** The messages and codes of an error and its causes: the binding wraps the OS error in `cause`. */
function causeChain(err: unknown): { messages: string[]; codes: unknown[] } {
  const messages: string[] = [];
  const codes: unknown[] = [];
  let cur: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && cur !== undefined && cur !== null; depth++) {
    messages.push(cur instanceof Error ? cur.message : String(cur));
    codes.push((cur as { code?: unknown }).code);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return { messages, codes };
}

/**
 * Maps an error from the database/filesystem to a StorageError (ENOSPC → NoSpace, corruption →
 * Corrupt). The whole cause chain is read: RocksLevel reports a failed open as "Database is not
 * open" with the real reason ("IO error: No space left on device") only in `cause`.
 */
export function toStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const { messages, codes } = causeChain(err);
  const message = [...new Set(messages)].join(': ');
  if (codes.includes('ENOSPC') || /no space left|ENOSPC/i.test(message)) {
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
