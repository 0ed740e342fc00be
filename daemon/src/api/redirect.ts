// Where a request may be served.
//
// Writes (PUT/DELETE /v1/kv, POST /v1/txn, locks, sessions, membership, leader transfer, snapshot) are
// served only by the leader. A follower answers them with 307 Temporary Redirect: Location is
// the same path and query on the leader's advertised client URL, and X-Raft-Leader names the
// leader. 307 (not 302/303) because clients must repeat the same method and body. With no
// known leader (or a leader whose client URL is not known yet) the answer is 503 NO_LEADER
// with Retry-After, so clients back off instead of looping.
//
// Reads are NOT redirected. A linearizable read is served by any member through
// MemberService.waitLinearizable(): the core forwards a ReadIndex request to the leader (or
// uses the leader lease) and the member answers once it has applied up to that index. This
// spreads read load over the cluster and keeps a read to be one round trip for the client.
// `?consistency=serializable` skips that step and serves local, possibly stale, state.
import { ApiError } from './errors.js';
import type { LeaderRef } from './errors.js';
import type { MemberService } from '../member-service.js';

/**
 * Throws unless this member may serve a write: NOT_LEADER (→ 307 to the leader) or NO_LEADER
 * (→ 503 + Retry-After). Call before proposing; the driver repeats the check at propose time,
 * and its NotLeader error is mapped to the same redirect by errors.ts.
 */
export function requireLeader(service: MemberService): void {
  if (service.isLeader()) return;
  throw notLeaderError(service.leader());
}

/** The error for a write on a member that is not the leader, given the leader it knows. */
export function notLeaderError(leader: LeaderRef | null): ApiError {
  if (leader === null) return new ApiError('NO_LEADER', 'no leader known; retry shortly');
  if (leader.clientUrl === '') return new ApiError('NO_LEADER', `the leader (${leader.name}) has not published its client URL yet; retry shortly`);
  return new ApiError('NOT_LEADER', `not the leader; the leader is ${leader.name}`, leader);
}

/**
 * While an election is under way (after a leader change, a transfer, a restart) a request waits
 * for its outcome, bounded by the server's `leaderWaitMs` (the member passes two election
 * timeouts), before it is answered 503 NO_LEADER: like etcd, which holds a request while it waits
 * for a leader, the client gets its answer (or a redirect) a moment later instead of an error.
 */
export const LEADER_WAIT = { defaultMaxWaitMs: 1000, pollMs: 20 } as const;

function leaderKnown(service: MemberService): boolean {
  if (service.isLeader()) return true;
  const l = service.leader();
  return l !== null && l.clientUrl !== '';
}

/**
 * null when a leader (with its client URL) is known now; else a promise that resolves once one
 * is, or after LEADER_WAIT.maxWaitMs (it never rejects: the caller's check then answers 503).
 */
export function leaderElected(service: MemberService, maxWaitMs: number): Promise<void> | null {
  if (leaderKnown(service) || service.isRemoved() || maxWaitMs <= 0) return null;
  return new Promise((resolve) => {
    const until = Date.now() + maxWaitMs;
    const timer = setInterval(() => {
      if (!leaderKnown(service) && Date.now() < until) return;
      clearInterval(timer);
      resolve();
    }, LEADER_WAIT.pollMs);
  });
}

/** requireLeader after waiting (bounded) for an election under way. */
export async function requireLeaderSoon(service: MemberService, maxWaitMs: number): Promise<void> {
  const wait = leaderElected(service, maxWaitMs);
  if (wait !== null) await wait;
  requireLeader(service);
}

/** service.waitLinearizable after waiting (bounded) for an election under way. */
export function waitLinearizableSoon(service: MemberService, maxWaitMs: number): Promise<void> {
  const wait = leaderElected(service, maxWaitMs);
  return wait === null ? service.waitLinearizable() : wait.then(() => service.waitLinearizable());
}
