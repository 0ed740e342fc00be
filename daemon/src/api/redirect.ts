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
