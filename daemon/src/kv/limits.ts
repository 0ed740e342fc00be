// Every bound of the KV state machine in one place, and the typed error codes it returns.
// All replicas must run with the same values for the bounds that affect state
// (idempotencyTtlMs, sessionTtlMs, maxLocks, maxKeyBytes, maxValueBytes, maxTxnOps;
// maxWatchHistoryEvents does not affect state): they are part of the replicated behaviour.
// The two exactly-once bounds an operator tunes (idempotencyBudgetBytes, maxSessions) are
// stamped into each command by the leader that proposes it, so members started with different
// flags still apply the same log the same way; the values here are what an unstamped command
// (from a log written before the stamps existed) is judged by.

/** Bounds and retention of the KV state machine. */
export interface KvLimits {
  /** Largest key in UTF-8 bytes (the API bounds keys at 4096 characters). */
  readonly maxKeyBytes: number;
  /** Largest value in bytes. */
  readonly maxValueBytes: number;
  /**
   * Memory budget of the idempotency window (IDEMPOTENCY_ENTRY_BASE_BYTES + key length per
   * entry). No unexpired entry is ever evicted: a keyed write that would pass the budget is
   * refused (IdempotencyWindowFull → 429 with Retry-After) and applies nothing.
   */
  readonly idempotencyBudgetBytes: number;
  /** An idempotency entry expires this long after it was recorded (command clock). */
  readonly idempotencyTtlMs: number;
  /** Client sessions open at once; opening one more is refused (TooManySessions → 429). */
  readonly maxSessions: number;
  /** A session no write has used for this long (command clock) expires. */
  readonly sessionTtlMs: number;
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
  // The API bounds keys at 4096 characters (JSON Schema's maxLength); 4 UTF-8 bytes each at most.
  maxKeyBytes: 4 * 4096,
  maxValueBytes: 1536 * 1024,
  idempotencyBudgetBytes: 64 * 1024 * 1024,
  idempotencyTtlMs: 10 * 60_000,
  maxSessions: 100_000,
  sessionTtlMs: 10 * 60_000,
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
 * Accounted bytes of one idempotency entry besides its key's characters: the Map slot, the
 * entry object with its answer numbers and the key string's header. Measured with
 * `node --expose-gc dist/bench/window-memory.js N` (V8 heap growth after GC divided by N,
 * Node 20, 64-bit): 182..207 bytes per entry with a 36-character key, the top just after the
 * Map doubled; 180 + 36 = 216 covers it. With the default budget (64 MiB) that is 310,689
 * UUID-keyed writes per idempotencyTtlMs (10 min), ~517 per second sustained.
 */
export const IDEMPOTENCY_ENTRY_BASE_BYTES = 180;
/**
 * Heap bytes of one session holding its last answer (same measurement: 114..118); sessions are
 * bounded by count (maxSessions), this is for the metrics and the docs.
 */
export const SESSION_BYTES = 128;

/**
 * Refusal codes of apply and reads, with the HTTP status the API should use:
 * InvalidCommand 400, PreconditionFailed 412, StaleFencingToken 409, LockHeld 409,
 * LockNotHeld 409, BadToken 409, TooManyLocks 429, Compacted 410, IdempotencyWindowFull 429,
 * UnknownSession 410, StaleSessionSeq 409, TooManySessions 429, AlreadyApplied (internal:
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
  | 'AlreadyApplied'
  | 'IdempotencyWindowFull'
  | 'UnknownSession'
  | 'StaleSessionSeq'
  | 'TooManySessions';

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
  IdempotencyWindowFull: 429,
  UnknownSession: 410,
  StaleSessionSeq: 409,
  TooManySessions: 429,
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
