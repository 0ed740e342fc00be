// Every bound the member process enforces, in one place, with the startup asserts on how they
// relate. Values that an operator may tune arrive through flags (config/flags.ts); the rest
// are constants here. Anything a bound drops or refuses is counted in a metric or answered
// with a typed error, never silently lost.

/** Fixed bounds of the member process (not tunable by flags). */
export const LIMITS = {
  /** Raft: unacknowledged Append messages per follower (pipelining window). */
  maxInflightMsgs: 256,
  /** Raft: entry bytes in one Append message (at least one entry is always sent). */
  maxSizePerMsgBytes: 1024 * 1024,
  /** Raft: uncommitted entry bytes on the leader before proposals get Backpressure. */
  maxUncommittedBytes: 64 * 1024 * 1024,
  /** Raft: a learner may be promoted once it is within this many entries of the leader. */
  maxLearnerLagEntries: 1000,
  /** Linearizable reads waiting at once (beyond: 429 Backpressure). */
  maxPendingReads: 16_384,
  /** Bytes of proposals waiting for commit (beyond: 429 Backpressure). */
  maxPendingProposalBytes: 48 * 1024 * 1024,
  /** Leader: a follower that has not acknowledged a snapshot by then is sent a fresh one. */
  snapshotAckTimeoutMs: 30_000,
  /** Received snapshot images kept until the core asks to install them. */
  maxStashedSnapshots: 2,
  /** Longest a fault injected through POST /v1/debug/faults may last before it lifts itself. */
  maxFaultDurationMs: 10 * 60 * 1000,
  /** Fault duration used when the request gives none. */
  defaultFaultDurationMs: 60 * 1000,
  /** SIGTERM to exit, all included (within 10 s). */
  shutdownDeadlineMs: 10_000,
  /** Part of the shutdown spent waiting for a leadership hand-off. */
  shutdownTransferWaitMs: 3_000,
  /** Part of the shutdown spent letting pending proposals resolve after the hand-off. */
  shutdownDrainWaitMs: 1_000,
  /** Part of the shutdown spent waiting for the in-flight persist and close calls. */
  shutdownCloseWaitMs: 2_500,
  /** Part of the shutdown the HTTP server may take to let requests finish (the API's close grace). */
  shutdownHttpCloseMs: 2_000,
  /** Part of the shutdown spent flushing trace spans to the collector. */
  shutdownTraceFlushMs: 500,
  /** Storage persist retry after a failed write (e.g. disk full): first and largest backoff. */
  persistRetryMinMs: 50,
  persistRetryMaxMs: 2_000,
  /** Leader changes remembered for status (newest last). */
  maxLeaderHistory: 32,
  /** Members in a cluster (address book bound). */
  maxMembers: 32,
  /** Open watch streams per member (beyond: 429). */
  maxWatchers: 4096,
  /** Transfer leadership: how long to wait for the new leader before giving up, in election timeouts. */
  transferWaitElectionTimeouts: 3,
} as const;

/** Bounds set by flags; checked against each other and against LIMITS by `assertLimits`. */
export interface TunableLimits {
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly snapshotEntries: number;
  readonly maxRequestBytes: number;
  readonly requestTimeoutMs: number;
  readonly maxPendingProposals: number;
  /**
   * Byte budget of the idempotency window (--idempotency-budget-bytes). Stamped into each keyed
   * write by the leader that proposes it, so members may differ without diverging.
   */
  readonly idempotencyBudgetBytes: number;
  /** Client sessions open at once (--max-sessions); stamped into each session open the same way. */
  readonly maxSessions: number;
}

/** A flag combination that cannot work; main.ts reports it and exits 2. */
export class LimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LimitError';
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new LimitError(message);
}

/**
 * Checks how the bounds relate. Throws `LimitError` naming the first relation that fails.
 * Call once at startup, before anything is opened.
 */
export function assertLimits(t: TunableLimits): void {
  check(Number.isInteger(t.heartbeatIntervalMs) && t.heartbeatIntervalMs >= 1, '--heartbeat-interval-ms must be an integer >= 1');
  check(Number.isInteger(t.electionTimeoutMs), '--election-timeout-ms must be an integer');
  // As etcd: fewer than ~5 heartbeats per election timeout makes spurious elections likely.
  check(t.electionTimeoutMs >= 5 * t.heartbeatIntervalMs,
    `--election-timeout-ms (${t.electionTimeoutMs}) must be at least 5 × --heartbeat-interval-ms (${t.heartbeatIntervalMs})`);
  check(t.electionTimeoutMs <= 60_000, '--election-timeout-ms must be <= 60000');
  check(t.snapshotEntries >= 1, '--snapshot-entries must be >= 1');
  check(t.maxRequestBytes >= 1024, '--max-request-bytes must be >= 1024');
  // One request must fit in the leader's uncommitted window, or it could never be proposed.
  check(t.maxRequestBytes * 2 <= LIMITS.maxUncommittedBytes,
    `--max-request-bytes must be <= ${LIMITS.maxUncommittedBytes / 2} (half the uncommitted-bytes window)`);
  check(t.maxRequestBytes <= LIMITS.maxPendingProposalBytes, '--max-request-bytes must fit in the pending proposal bytes bound');
  // A request must outlive at least one election, or every leader change times out all clients.
  check(t.requestTimeoutMs >= t.electionTimeoutMs, `--request-timeout-ms (${t.requestTimeoutMs}) must be >= --election-timeout-ms (${t.electionTimeoutMs})`);
  check(t.requestTimeoutMs <= 5 * 60_000, '--request-timeout-ms must be <= 300000');
  check(t.maxPendingProposals >= 1 && t.maxPendingProposals <= 1_000_000, '--max-pending-proposals must be in 1..1000000');
  // One entry with the longest key must fit, or every keyed write would be refused.
  check(t.idempotencyBudgetBytes >= 64 * 1024 && t.idempotencyBudgetBytes <= 64 * 1024 ** 3, '--idempotency-budget-bytes must be in 65536..68719476736');
  check(t.maxSessions >= 1 && t.maxSessions <= 10_000_000, '--max-sessions must be in 1..10000000');
  check(LIMITS.shutdownTransferWaitMs + LIMITS.shutdownDrainWaitMs + LIMITS.shutdownCloseWaitMs + LIMITS.shutdownTraceFlushMs + LIMITS.shutdownHttpCloseMs < LIMITS.shutdownDeadlineMs - 500,
    'shutdown phases must fit in the shutdown deadline');
  check(LIMITS.persistRetryMinMs <= LIMITS.persistRetryMaxMs, 'persist retry backoff bounds are inverted');
  check(LIMITS.maxSizePerMsgBytes <= LIMITS.maxUncommittedBytes, 'an Append must fit in the uncommitted window');
}

/** Election timeout in ticks, one tick per heartbeat interval (as etcd). */
export function electionTicksOf(t: Pick<TunableLimits, 'electionTimeoutMs' | 'heartbeatIntervalMs'>): number {
  return Math.max(2, Math.round(t.electionTimeoutMs / t.heartbeatIntervalMs));
}
