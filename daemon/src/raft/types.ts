// The data shapes of the consensus core: log entries, messages, persistent state and the
// Ready batch that hands work to the driver. Pure data, no behaviour; shared by the core,
// the storage and transport drivers, the simulator and the daemon.

/** A member's name; unique within a cluster and stable for the member's life. */
export type NodeId = string;

/** What a log entry carries. Numeric so the binary codecs stay small. */
export const EntryType = {
  /** A client command for the state machine (opaque bytes to the core). */
  Normal: 0,
  /** A membership change, encoded by `encodeConfChange` in membership.ts. */
  ConfChange: 1,
  /** The empty entry a new leader appends so it can commit in its own term. */
  Noop: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** State that must be on stable storage before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  /** Who this member voted for in `term`, or '' for nobody. */
  readonly vote: NodeId;
  readonly commit: number;
  /**
   * A joiner's vote floor: it refuses votes until its log reaches this index (RawNode, see the
   * raft README). Durable, so a restart before reaching it cannot forget it. Absent means 0.
   */
  readonly voteFloor?: number;
}

/** The configuration: who votes and who only receives the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

/** A membership change as proposed through the log (one change at a time, learners first). */
export interface ConfChange {
  readonly type: 'addLearner' | 'promote' | 'remove';
  readonly node: NodeId;
  /** Opaque to the core: the driver stores the member's addresses here. */
  readonly context: Uint8Array;
}

export const MessageType = {
  Vote: 1,
  VoteResp: 2,
  PreVote: 3,
  PreVoteResp: 4,
  Append: 5,
  AppendResp: 6,
  Heartbeat: 7,
  HeartbeatResp: 8,
  Snapshot: 9,
  TimeoutNow: 10,
  /** A follower forwarding a ReadIndex request to the leader. */
  ReadIndex: 11,
  ReadIndexResp: 12,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One message between members. A flat shape (as etcd-io/raft's pb.Message) so the frame codec
 * has one layout; fields a type does not use are zero / empty.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** Append: term of the entry before `entries`. Vote: candidate's last log term. */
  readonly logTerm: number;
  /** Append: index of the entry before `entries`. Vote: candidate's last index. Resp: match/hint index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** AppendResp reject: the follower's hint (last index, or first index of the conflicting term). */
  readonly rejectHint: number;
  /** AppendResp reject: the term of the follower's entry at `rejectHint` (fast backtracking). */
  readonly rejectHintTerm: number;
  /** Heartbeat / ReadIndex context: the read request this round serves (0 = none). */
  readonly context: number;
  /** Snapshot: metadata; the driver streams the data beside it (see `snapshotData`). */
  readonly snapshot?: SnapshotMeta;
  /** Snapshot: the state machine image, attached by the driver, never by the core. */
  readonly snapshotData?: Uint8Array;
  /** W3C traceparent carried for observability; ignored by the core. */
  readonly traceParent?: string;
}

/** A linearizable read point: once the state machine has applied `index`, serve `requestId`. */
export interface ReadState {
  readonly requestId: number;
  readonly index: number;
}

export type Role = 'follower' | 'candidate' | 'precandidate' | 'leader';

/** Volatile state the driver may show (status, metrics); changes are reported in Ready. */
export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/**
 * One batch of work for the driver. Its duties, in this order:
 *  1. persist `hardState`, `entries` (which replace any stored entries from `entries[0].index`
 *     on) and `snapshot` in ONE synced write; nothing below may happen before it is durable.
 *     A `snapshot` here was received from the leader and replaces the WHOLE stored log: drop
 *     every stored entry (also those after its index; they belonged to the log it replaced),
 *     then write `entries` (which then start at snapshot.index + 1);
 *  2. send `messages`;
 *  3. install `snapshot` into the state machine (if present), then apply `committedEntries` in
 *     order, then answer `readStates` once their index is applied;
 *  4. call `advance(ready)`.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: SnapshotMeta;
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/**
 * What a leader may act on while the driver is still writing its outstanding Ready (see
 * RawNode.leaderProgress): send `messages`, apply `committedEntries` (committed by a quorum of the
 * other members; not necessarily durable here yet), answer
 * `readStates` once applied. None of it is repeated in a later Ready.
 */
export interface LeaderProgress {
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/** Deterministic randomness, injected so a seed replays a run exactly. */
export interface Rng {
  /** An integer in [0, maxExclusive). */
  intBelow(maxExclusive: number): number;
}

/**
 * Deliberately broken behaviours, used ONLY by the simulator's tests to prove the checkers
 * catch real bugs. Never set in the daemon.
 */
export interface BrokenVariants {
  /** Commit an entry of an earlier term by counting replicas (the paper's Figure 8 bug). */
  readonly commitPreviousTermByCount?: boolean;
  /** Grant a vote even if this member already voted for someone else in the term. */
  readonly voteTwiceInTerm?: boolean;
  /** Answer ReadIndex at once as leader, without confirming leadership with a quorum. */
  readonly readIndexWithoutQuorum?: boolean;
  /** Grant (pre-)votes before learning the configuration (a joiner, e.g. re-added with a wiped disk). */
  readonly voteWithoutConf?: boolean;
  /** Never send a snapshot: a member behind the first retained index never catches up (liveness only). */
  readonly neverSendSnapshot?: boolean;
  /**
   * Ignore a lower-term Append or Heartbeat unless check-quorum or pre-vote is on (etcd-io/raft's
   * rule): a learner holding a higher term never catches up (liveness only).
   */
  readonly silentToStaleLeader?: boolean;
  /** Promote a learner within maxLearnerLagEntries even if it lacks committed entries (liveness only). */
  readonly promoteBelowCommit?: boolean;
  /** Count an ack below the probe point (from an earlier incarnation of a re-added name) (liveness only). */
  readonly trustStaleAcks?: boolean;
}

export interface RaftConfig {
  readonly id: NodeId;
  /** A follower that hears no leader for a random span in [electionTicks, 2*electionTicks) campaigns. */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /**
   * Serve ReadIndex from the leader lease (no quorum round) while the leader heard from a
   * quorum within the last electionTicks. Requires checkQuorum. Assumes member clocks (tick
   * rates) do not drift apart by more than the gap between electionTicks and the randomized
   * minimum election timeout of followers.
   */
  readonly leaseRead: boolean;
  /** Bound on unacknowledged Append messages per follower (pipelining window). */
  readonly maxInflightMsgs: number;
  /** Bound on entries bytes in one Append message. */
  readonly maxSizePerMsgBytes: number;
  /** Proposals are refused (Backpressure) beyond this many uncommitted entry bytes. */
  readonly maxUncommittedBytes: number;
  /** A learner may be promoted only when its match index is within this many entries of the leader's last index. */
  readonly maxLearnerLagEntries: number;
  readonly rng: Rng;
  readonly brokenVariants?: BrokenVariants;
  /**
   * A leader sends a member whose removal just committed one last Append up to the removal, so
   * it learns it was removed (default true). Off only to replay simulator seeds recorded before.
   */
  readonly notifyRemovedMembers?: boolean;
}

/** What a restarting member hands the core: everything found on stable storage. */
export interface RaftInitialState {
  readonly hardState: HardState;
  /** The last snapshot's metadata; for a brand-new member, index 0 term 0 with the bootstrap voters. */
  readonly snapshot: SnapshotMeta;
  /** Every stored entry after `snapshot.index`, contiguous. */
  readonly entries: readonly Entry[];
}

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: 'probe' | 'replicate' | 'snapshot';
  readonly recentActive: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly confState: ConfState;
  /** True while a membership change is proposed but not yet applied. */
  readonly confChangePending: boolean;
  readonly leadTransferee: NodeId | null;
  /** Leader only: per-member replication progress. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}
