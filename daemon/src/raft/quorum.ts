// Majority math for one voter set (no joint consensus: membership changes one at a time).
import type { NodeId } from './types.js';

/** Votes needed to win among `voterCount` voters. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index that a quorum of `voters` has reached, given each voter's match index
 * (`matchOf` returns 0 for an unknown voter). O(v log v) in the number of voters, never in
 * the log length. An empty voter set commits nothing (returns 0).
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  const matches: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) matches[i] = matchOf(voters[i] as NodeId);
  matches.sort((a, b) => b - a);
  return matches[quorumSize(n) - 1] ?? 0;
}

/** The outcome of an election among `voters` so far. */
export type VoteResult = 'won' | 'lost' | 'pending';

/** Counts granted and rejected votes of `voters` only (anyone else's answer is ignored). */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const g = votes.get(v);
    if (g === true) granted++;
    else if (g === false) rejected++;
  }
  const q = quorumSize(voters.length);
  if (granted >= q) return 'won';
  if (voters.length - rejected < q) return 'lost';
  return 'pending';
}

/** True when `acks` (a set of members) contains a quorum of `voters`. */
export function hasQuorum(voters: readonly NodeId[], acks: ReadonlySet<NodeId>): boolean {
  let n = 0;
  for (const v of voters) if (acks.has(v)) n++;
  return n >= quorumSize(voters.length);
}
