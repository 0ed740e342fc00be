// Every bound of the KV state machine in one place, and the typed error codes it returns.
// All replicas must run with the same values for the bounds that affect state
// (maxIdempotencyEntries, idempotencyTtlMs, maxLocks, maxKeyBytes, maxValueBytes, maxTxnOps,
// maxWatchHistoryEvents does not affect state): they are part of the replicated behaviour.

/** Bounds and retention of the KV state machine. */
export interface KvLimits {
  /** Largest key in UTF-8 bytes (API.md: 1..4096). */
  readonly maxKeyBytes: number;
  /** Largest value in bytes. */
  readonly maxValueBytes: number;
  /** Idempotency table size; the oldest entry is evicted beyond it. */
  readonly maxIdempotencyEntries: number;
  /** An idempotency entry expires this long after it was recorded (command clock). */
  readonly idempotencyTtlMs: number;
  /** Longest accepted Idempotency-Key in UTF-8 bytes. */
  readonly maxIdempotencyKeyBytes: number;
  /** Watch events kept for resuming subscribers. */
  readonly maxWatchHistoryEvents: number;
  /** A subscriber further behind than this many events is closed. */
  readonly maxWatchSubscriberBufferedEvents: number;
  /** Most compares plus ops in one txn branch. */
  readonly maxTxnOps: number;
  /** Most locks held at once. */
  readonly maxLocks: number;
  /** Longest lock name / owner in UTF-8 bytes. */
  readonly maxLockNameBytes: number;
  /** Lock TTL range. */
  readonly minLockTtlMs: number;
  readonly maxLockTtlMs: number;
  /** Largest page of a prefix listing. */
  readonly maxRangeLimit: number;
}

/** Defaults; the value bound matches the daemon's 1.5 MiB request limit. */
export const DEFAULT_KV_LIMITS: KvLimits = Object.freeze({
  maxKeyBytes: 4096,
  maxValueBytes: 1536 * 1024,
  maxIdempotencyEntries: 100_000,
  idempotencyTtlMs: 10 * 60_000,
  maxIdempotencyKeyBytes: 256,
  maxWatchHistoryEvents: 100_000,
  maxWatchSubscriberBufferedEvents: 10_000,
  maxTxnOps: 128,
  maxLocks: 10_000,
  maxLockNameBytes: 512,
  minLockTtlMs: 100,
  maxLockTtlMs: 24 * 3600_000,
  maxRangeLimit: 10_000,
});

/**
 * Refusal codes of apply and reads, with the HTTP status the API should use:
 * InvalidCommand 400, PreconditionFailed 412, StaleFencingToken 409, LockHeld 409,
 * LockNotHeld 409, BadToken 409, TooManyLocks 429, Compacted 410, AlreadyApplied (internal:
 * the driver re-fed an index at or below appliedIndex; nothing changed).
 */
export type KvErrorCode =
  | 'InvalidCommand'
  | 'PreconditionFailed'
  | 'StaleFencingToken'
  | 'LockHeld'
  | 'LockNotHeld'
  | 'BadToken'
  | 'TooManyLocks'
  | 'Compacted'
  | 'AlreadyApplied';

/** HTTP status per code, for the API's error mapping. */
export const KV_ERROR_HTTP_STATUS: Readonly<Record<KvErrorCode, number>> = Object.freeze({
  InvalidCommand: 400,
  PreconditionFailed: 412,
  StaleFencingToken: 409,
  LockHeld: 409,
  LockNotHeld: 409,
  BadToken: 409,
  TooManyLocks: 429,
  Compacted: 410,
  AlreadyApplied: 500,
});

/** Thrown by reads/watch (never by apply, which returns results). */
export class KvError extends Error {
  constructor(
    readonly code: KvErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KvError';
  }
}
