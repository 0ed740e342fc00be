// Operating errors the core returns to callers (refused proposals and requests). Invariant
// violations are not here: they throw `RaftInvariantError` and stop the member.

export type RaftErrorCode =
  | 'NotLeader' // this member cannot accept the request; the leader (if known) is in `leader`
  | 'TransferInProgress' // a leadership transfer is under way; proposals wait
  | 'ConfChangeInProgress' // a membership change is already pending
  | 'Backpressure' // too many uncommitted bytes; retry later
  | 'LearnerNotCaughtUp' // promote refused: the learner lags too far
  | 'UnknownMember' // the named member is not in the configuration
  | 'AlreadyMember' // add refused: the name is in the configuration already
  | 'InvalidConfChange' // e.g. removing the last voter, promoting a voter
  | 'ProposalTooLarge'; // a single proposal is larger than the in-flight byte bound

/** A request the core refused; safe to report to the client. */
export class RaftError extends Error {
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    readonly leader: string | null = null,
  ) {
    super(message);
    this.name = 'RaftError';
  }
}

/** A violated invariant inside the core. Never caught: the member must stop loudly. */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftInvariantError';
  }
}

/** Throws `RaftInvariantError` unless `condition` holds. */
export function assertInvariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RaftInvariantError(message);
}
