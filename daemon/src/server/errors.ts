// Operating errors the member driver throws to the API layer. Each has a stable code and the
// HTTP status they imply; api/errors.ts maps them to responses in one place. Invariant
// violations are never one of these: they stop the member.
import type { RaftError } from '../raft/errors.js';

/** Every code the driver throws, with its HTTP status. */
export const MEMBER_ERROR_STATUS = {
  /** This member is not the leader; `leader` names the one to redirect to (307). */
  NotLeader: 307,
  /** No leader known right now (election under way or quorum lost). */
  NoLeader: 503,
  /** Too many pending proposals or reads, or too many uncommitted bytes. */
  Backpressure: 429,
  /** Not committed/applied within the request timeout; the outcome of a write is unknown. */
  Timeout: 503,
  /** The member cannot persist (disk full or failing); writes refused until a write succeeds again. */
  NoSpace: 507,
  /** The member is stopping. */
  ShuttingDown: 503,
  /** The entry was replaced after a leader change, or its outcome is unknown; retry with the same Idempotency-Key. */
  ProposalDropped: 503,
  /** A membership change is already pending, or a learner is not caught up, or the name is taken. */
  Conflict: 409,
  /** The named member is not in the configuration. */
  UnknownMember: 404,
  /** The request is not valid for the configuration (e.g. removing the last voter). */
  InvalidRequest: 400,
  /** One proposal larger than the member accepts. */
  TooLarge: 413,
  /** POST /v1/debug/faults without --enable-fault-injection. */
  FaultInjectionDisabled: 403,
  /** This member applied its own removal from the configuration. */
  Removed: 410,
} as const;

export type MemberErrorCode = keyof typeof MEMBER_ERROR_STATUS;

/** A refused or failed request; safe to show to the client. */
export class MemberError extends Error {
  readonly httpStatus: number;
  constructor(
    readonly code: MemberErrorCode,
    message: string,
    /** NotLeader: the leader to redirect to, when known. */
    readonly leader: { readonly name: string; readonly clientUrl: string } | null = null,
    /** Suggested client back-off for 429/503, in seconds. */
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
    this.name = 'MemberError';
    this.httpStatus = MEMBER_ERROR_STATUS[code];
  }
}

/** Translates a refusal from the core into the driver's error, resolving the leader's address. */
export function fromRaftError(err: RaftError, leaderOf: (name: string) => { readonly name: string; readonly clientUrl: string } | null): MemberError {
  switch (err.code) {
    case 'NotLeader': {
      const leader = err.leader === null ? null : leaderOf(err.leader);
      return leader ? new MemberError('NotLeader', `not the leader; the leader is ${leader.name}`, leader) : new MemberError('NoLeader', 'no leader known; retry shortly');
    }
    case 'TransferInProgress':
      return new MemberError('NoLeader', 'a leadership transfer is under way; retry shortly');
    case 'ConfChangeInProgress':
      return new MemberError('Conflict', 'another membership change is pending');
    case 'Backpressure':
      return new MemberError('Backpressure', 'too many uncommitted bytes; retry later');
    case 'LearnerNotCaughtUp':
      return new MemberError('Conflict', 'the learner has not caught up with the leader yet');
    case 'UnknownMember':
      return new MemberError('UnknownMember', err.message);
    case 'AlreadyMember':
      return new MemberError('Conflict', err.message);
    case 'InvalidConfChange':
      // The API validated the names: what is left (promote a voter, remove the last voter)
      // conflicts with the current configuration.
      return new MemberError('Conflict', err.message);
    case 'ProposalTooLarge':
      return new MemberError('TooLarge', err.message);
  }
}
