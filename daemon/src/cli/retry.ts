// When raftctl retries a request, and how long it waits in between. Pure, so the policy is unit
// tested on its own: a failure is either "not applied" (safe to send again: the connection was
// refused, the member had no leader, was overloaded, was removed), "outcome unknown" (the request
// may have been applied: a timeout, a dropped connection, 503 TIMEOUT/PROPOSAL_DROPPED/SHUTTING_DOWN),
// or final (everything else: bad input, auth, 404, 409, 412, ...). Reads are retried on both
// retryable kinds; a write is retried on an unknown outcome only when it carries an
// Idempotency-Key, so the members apply it at most once.

/** How a failed attempt is treated. */
export type FailureKind = 'not-applied' | 'unknown-outcome' | 'final';

/** Network error codes that mean the request never reached a member. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL',
]);

/** Network error codes where the request may have been sent (or whose TLS failure another member may not share). */
const MAYBE_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'UND_ERR_SOCKET',
]);

/** A network error (no HTTP answer): its code (`ECONNREFUSED`) or name (`TimeoutError`). */
export function classifyNetworkError(code: string | null, name: string | null): FailureKind {
  if (code !== null && NOT_SENT_CODES.has(code)) return 'not-applied';
  if (code !== null && MAYBE_SENT_CODES.has(code)) return 'unknown-outcome';
  if (name === 'TimeoutError' || name === 'AbortError') return 'unknown-outcome';
  // TLS verification failures, bad certificates and the like will not get better by retrying.
  return 'final';
}

/** An HTTP answer that is not a success and not a redirect. `code` is the JSON body's code. */
export function classifyHttpAnswer(status: number, code: string | null): FailureKind {
  if (status === 503) {
    // The member refused before proposing: nothing was applied.
    if (code === 'NO_LEADER' || code === null) return 'not-applied';
    // TIMEOUT, PROPOSAL_DROPPED, SHUTTING_DOWN: proposed, outcome unknown.
    return 'unknown-outcome';
  }
  if (status === 429) return 'not-applied';
  // A removed member serves nothing; another member will.
  if (status === 410 && code === 'MEMBER_REMOVED') return 'not-applied';
  if (status === 502 || status === 504) return 'unknown-outcome';
  return 'final';
}

/** Whether a failure of this kind is retried. */
export function shouldRetry(kind: FailureKind, idempotent: boolean): boolean {
  if (kind === 'not-applied') return true;
  if (kind === 'unknown-outcome') return idempotent;
  return false;
}

/** Backoff between rounds over the endpoints. */
export const BACKOFF = {
  /** First wait. */
  baseMs: 50,
  /** Longest wait (an election takes about one election timeout; waiting longer only adds latency). */
  maxMs: 1000,
} as const;

/**
 * The wait before round `round` (0-based: the wait after the first full round is round 0):
 * exponential from BACKOFF.baseMs, capped at BACKOFF.maxMs, with "equal jitter" (half fixed,
 * half random) so clients that failed together do not retry together. `random` is in [0, 1).
 */
export function backoffMs(round: number, random: number): number {
  const ceiling = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** Math.min(round, 16));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/**
 * The timeout of one attempt of a request that may be resent: the time left, but with several
 * endpoints at most half the command's deadline, so a member that accepts connections and never
 * answers (paused, or partitioned away from the leader) leaves time to try the others.
 */
export function attemptTimeoutMs(remainingMs: number, deadlineMs: number, endpoints: number): number {
  if (endpoints <= 1) return Math.max(1, remainingMs);
  return Math.max(1, Math.min(remainingMs, Math.ceil(deadlineMs / 2)));
}

/** A random Idempotency-Key for --retry: 128 random bits, visible ASCII. */
export function automaticIdempotencyKey(randomHex: string): string {
  return `raftctl-${randomHex}`;
}
