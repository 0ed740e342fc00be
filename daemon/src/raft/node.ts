// RawNode: the whole consensus algorithm as a deterministic state machine (etcd-io/raft's
// shape). Inputs: tick(), step(), propose*(), readIndex(), transferLeadership(); outputs: Ready
// batches the driver persists, sends and applies before calling advance(). No I/O, no clocks,
// no randomness except config.rng. Role behaviour is swapped as a function (this.stepFn).
import { RaftError, assertInvariant } from './errors.js';
import { RaftLog } from './log.js';
import { applyConfChange, decodeConfChange, decodeConfState, encodeConfChange, encodeConfState, isMember, isVoter, validateConfChange } from './membership.js';
import { Progress } from './progress.js';
import { committedIndex, hasQuorum, quorumSize, voteResult } from './quorum.js';
import { MAX_PENDING_READS, ReadOnlyQueue } from './read-index.js';
import type { PendingRead } from './read-index.js';
import { EntryType, MessageType } from './types.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  LeaderProgress,
  Message,
  NodeId,
  ProgressStatus,
  RaftConfig,
  RaftInitialState,
  RaftStatus,
  Ready,
  ReadState,
  Role,
  SnapshotMeta,
  SoftState,
} from './types.js';

/** Vote / PreVote `context` marking a campaign forced by TimeoutNow (bypasses leader leases). */
export const VOTE_CONTEXT_TRANSFER = 1;
/**
 * Append `context` marking an empty Append that only carries a new commit index to a follower
 * in replicate state: accepted, it is not answered. Its answer would repeat the ack the entries
 * already got (their own Append is answered), and at low load it was half of a put's messages
 * to the leader. Lost acks of entries are still recovered: heartbeats answer, and in-flight
 * Appends with no ack for a while send the follower back to probing (whose empty Appends are
 * answered). A member that does not know the mark answers as before.
 */
export const APPEND_CONTEXT_COMMIT_ONLY = 1;

const EMPTY_ENTRIES: readonly Entry[] = Object.freeze([]);
const EMPTY_DATA = new Uint8Array(0);
const MAX_MESSAGE_TYPE = 12;
/**
 * Election timeouts after which a snapshot send with no outcome (no ack, no reportSnapshot)
 * while the member answers heartbeats counts as lost and is sent again.
 */
export const SNAPSHOT_RESEND_ELECTIONS = 4;

/** The fields of a message the core fills in; the rest default to zero / empty. */
type MessageFields = { type: Message['type']; to: NodeId } & Partial<Omit<Message, 'type' | 'to' | 'from'>>;

interface ConfAt {
  readonly index: number;
  readonly conf: ConfState;
}

function isNat(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function isConfState(c: unknown): c is ConfState {
  if (typeof c !== 'object' || c === null) return false;
  const cs = c as { voters?: unknown; learners?: unknown };
  return Array.isArray(cs.voters) && Array.isArray(cs.learners) && cs.voters.every((v) => typeof v === 'string') && cs.learners.every((v) => typeof v === 'string');
}

/** Shape checks so a malformed message is ignored instead of tripping an assertion. */
function isWellFormed(m: Message): boolean {
  if (typeof m !== 'object' || m === null) return false;
  if (!Number.isInteger(m.type) || m.type < 1 || m.type > MAX_MESSAGE_TYPE) return false;
  if (typeof m.from !== 'string' || typeof m.to !== 'string' || m.from === '') return false;
  // Every message the core sends carries a term >= 1.
  if (!isNat(m.term) || m.term === 0 || !isNat(m.logTerm) || !isNat(m.index) || !isNat(m.commit)) return false;
  if (!isNat(m.rejectHint) || !isNat(m.rejectHintTerm) || !isNat(m.context)) return false;
  if (!Array.isArray(m.entries)) return false;
  if (m.type === MessageType.Append) {
    let prevTerm = m.logTerm;
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i] as Entry;
      if (typeof e !== 'object' || e === null || e.index !== m.index + 1 + i || !isNat(e.term)) return false;
      if (e.term < prevTerm || e.term > m.term || !(e.data instanceof Uint8Array)) return false;
      if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange && e.type !== EntryType.Noop) return false;
      prevTerm = e.term;
    }
  }
  if (m.type === MessageType.Snapshot) {
    const s = m.snapshot;
    if (s === undefined || !isNat(s.index) || !isNat(s.term) || s.index === 0 || !isConfState(s.confState)) return false;
  }
  if (m.type === MessageType.Append && m.snapshot !== undefined) {
    const s = m.snapshot;
    if (typeof s !== 'object' || s === null || s.index !== 0 || !isConfState(s.confState)) return false;
  }
  return true;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit && (a.voteFloor ?? 0) === (b.voteFloor ?? 0);
}

function checkConfig(c: RaftConfig): void {
  assertInvariant(typeof c.id === 'string' && c.id !== '', 'config.id must be a non-empty member name');
  assertInvariant(Number.isInteger(c.heartbeatTicks) && c.heartbeatTicks > 0, 'config.heartbeatTicks must be a positive integer');
  assertInvariant(Number.isInteger(c.electionTicks) && c.electionTicks > c.heartbeatTicks, 'config.electionTicks must be an integer greater than heartbeatTicks');
  assertInvariant(!c.leaseRead || c.checkQuorum, 'config.leaseRead requires config.checkQuorum');
  assertInvariant(Number.isInteger(c.maxInflightMsgs) && c.maxInflightMsgs > 0, 'config.maxInflightMsgs must be a positive integer');
  assertInvariant(c.maxSizePerMsgBytes > 0, 'config.maxSizePerMsgBytes must be positive');
  assertInvariant(c.maxUncommittedBytes > 0, 'config.maxUncommittedBytes must be positive');
  assertInvariant(Number.isInteger(c.maxLearnerLagEntries) && c.maxLearnerLagEntries >= 0, 'config.maxLearnerLagEntries must be a non-negative integer');
}

/**
 * One member's consensus state machine. Not thread-safe and not reentrant: call its methods
 * from one loop. Contract of the Ready cycle: `ready()` → persist, send, apply → `advance(rd)`;
 * at most one Ready is outstanding (call ready() again only after advance()).
 */
export class RawNode {
  private readonly cfg: RaftConfig;
  private readonly id: NodeId;
  private readonly log: RaftLog;

  private term: number;
  private vote: NodeId;
  private lead: NodeId | null = null;
  private role: Role = 'follower';
  private stepFn: (m: Message) => void;

  /** The committed configuration (changes take effect at commit). */
  private conf: ConfState;
  /** Configurations after committed changes above the snapshot index, oldest first. */
  private confHistory: ConfAt[] = [];
  /**
   * False for a joining member that has not learned the bootstrap configuration (index-0
   * snapshot with no members) from a snapshot or the leader: its view of the voters may lack
   * the bootstrap voters, so it must never campaign on it.
   */
  private confKnown: boolean;
  /**
   * A joiner learned the configuration from a leader whose commit index was this: it refuses
   * votes until its log reaches it. Every entry up to it was committed, including the change
   * that (re-)added us, so a re-added member's log then holds what its earlier incarnation may
   * have acknowledged. Part of the hard state, so it survives a restart.
   */
  private voteFloor = 0;

  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Ticks since this member started (lease stamps). */
  private tickCount = 0;
  /** Ticks since a leader of the current term was last heard (check-quorum vote lease). */
  private ticksSinceLeader: number;

  private leadTransferee: NodeId | null = null;
  /** Leader: index of the newest conf change proposed (pending until committed). */
  private pendingConfIndex = 0;
  /** Leader: payload bytes of entries appended in this term and not yet committed. */
  private uncommittedBytes = 0;
  /** Leader: sent TimeoutNow this term, so a forced election may be under way: no lease reads. */
  private leaseDisabled = false;
  /** Leader: entries or commit changed since the last Ready; Appends are built in ready(). */
  private pendingBroadcast = false;
  private readonly readOnly = new ReadOnlyQueue();

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  /** A snapshot restored from the leader, not yet handed out in a Ready. */
  private pendingSnapshot: SnapshotMeta | null = null;

  private prevSoft: SoftState = { leader: null, role: 'follower' };
  private prevHard: HardState;
  /** Highest index handed out for applying (committedEntries or a snapshot). */
  private appliedHandedTo: number;
  /** Highest index applied: handed out in a Ready that was advanced. */
  private applied: number;

  constructor(config: RaftConfig, initial: RaftInitialState) {
    checkConfig(config);
    this.cfg = config;
    this.id = config.id;
    const hs = initial.hardState;
    assertInvariant(isNat(hs.term) && isNat(hs.commit) && typeof hs.vote === 'string', 'malformed initial hard state');
    assertInvariant(hs.term >= initial.snapshot.term, `hard state term ${hs.term} below snapshot term ${initial.snapshot.term}`);
    const commit = Math.max(hs.commit, initial.snapshot.index);
    this.log = new RaftLog(initial.snapshot, initial.entries, commit);
    this.log.allowCommittedTruncation = config.brokenVariants?.commitPreviousTermByCount === true;
    assertInvariant(this.log.lastTerm() <= hs.term, `last log term ${this.log.lastTerm()} above hard state term ${hs.term}`);
    this.term = hs.term;
    this.vote = hs.vote;
    this.prevHard = { term: hs.term, vote: hs.vote, commit: hs.commit, ...(hs.voteFloor ? { voteFloor: hs.voteFloor } : {}) };
    this.voteFloor = hs.voteFloor ?? 0;
    this.conf = initial.snapshot.confState;
    const bootstrapConf = initial.snapshot.confState;
    this.confKnown = initial.snapshot.index > 0 || bootstrapConf.voters.length > 0 || bootstrapConf.learners.length > 0;
    // Committed membership changes after the snapshot are part of the configuration already.
    for (let i = initial.snapshot.index + 1; i <= commit; i++) {
      const e = this.log.entry(i);
      if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
      else if (e.index === 1 && e.type === EntryType.Noop) this.maybeAdoptFromNoop(e);
    }
    this.applied = initial.snapshot.index;
    this.appliedHandedTo = initial.snapshot.index;
    // A restarted member may have promised a leader its vote-lease: keep it for one timeout.
    this.ticksSinceLeader = hs.term > 0 ? 0 : config.electionTicks;
    this.stepFn = this.stepFollower;
    this.becomeFollower(this.term, null);
  }

  // ---------------------------------------------------------------------------------------
  // Public API

  /**
   * The driver learned that `peer`'s process is gone (its peer port refuses connections: a crashed
   * or killed member, not a partition or a pause). If it is our leader, campaign as soon as the
   * vote lease allows (electionTicks since we last heard it, plus up to a fifth of that as jitter
   * so the followers do not split the vote) instead of at a random point up to twice the election
   * timeout. Only the timer moves: votes still wait for every lease, so safety (and lease reads)
   * are untouched, and a false alarm costs nothing while the leader's heartbeats keep arriving.
   */
  peerGone(peer: NodeId): void {
    if (this.role !== 'follower' || this.lead !== peer) return;
    const jitterTicks = Math.max(1, Math.floor(this.cfg.electionTicks / 5));
    const soon = this.cfg.electionTicks + this.cfg.rng.intBelow(jitterTicks);
    if (soon < this.randomizedElectionTimeout) this.randomizedElectionTimeout = soon;
  }

  /** Advances logical time by one tick (elections, heartbeats, check-quorum, transfer timeout). */
  tick(): void {
    this.tickCount++;
    this.ticksSinceLeader++;
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  /** Feeds one message from a peer. Malformed, misaddressed or stale messages are ignored. */
  step(m: Message): void {
    if (!isWellFormed(m) || m.to !== this.id || m.from === this.id) return;
    if (m.type === MessageType.PreVote && this.role === 'leader' && !isMember(this.conf, m.from)) this.lateFarewell(m);
    if (m.term > this.term) {
      if ((m.type === MessageType.AppendResp || m.type === MessageType.HeartbeatResp) && !isMember(this.conf, m.from)) {
        // Only a member of our configuration may raise our term by answering us: a removed
        // member holding a high term (it campaigned while cut off) cannot depose anyone.
        return;
      }
      if ((m.type === MessageType.Vote || m.type === MessageType.PreVote) && m.context !== VOTE_CONTEXT_TRANSFER && this.inVoteLease()) {
        return; // we hear from a live leader: a disruptive candidate is ignored (check-quorum)
      }
      if (m.type === MessageType.PreVote) {
        // Pre-votes never change our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote for our future term: counted below, term unchanged.
      } else if (m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      const silent = this.cfg.brokenVariants?.silentToStaleLeader === true && !this.cfg.checkQuorum && !this.cfg.preVote;
      if ((m.type === MessageType.Append || m.type === MessageType.Heartbeat) && !silent) {
        // A stale leader (e.g. after a partition) learns our term and steps down. Always, not
        // only with check-quorum or pre-vote (etcd-io/raft answers only then and otherwise
        // relies on the higher-term member campaigning): a member that cannot campaign - a
        // learner, or a re-added member that has not learned its configuration - would else
        // hold its higher term forever and never accept the leader's log (simulator seeds
        // 2002227, 2007520). The leader re-elects above our term; see the member check above.
        this.send({ type: MessageType.AppendResp, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResp, to: m.from, reject: true });
      }
      return;
    }
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    this.stepFn(m);
  }

  /**
   * Leader: appends a command; it travels to followers with the next Ready. Throws RaftError
   * NotLeader (with the known leader), TransferInProgress, ProposalTooLarge or Backpressure.
   */
  propose(data: Uint8Array): { index: number; term: number } {
    this.checkCanPropose();
    if (data.length > this.cfg.maxUncommittedBytes) {
      throw new RaftError('ProposalTooLarge', `proposal of ${data.length} bytes exceeds maxUncommittedBytes ${this.cfg.maxUncommittedBytes}`);
    }
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.length > this.cfg.maxUncommittedBytes) {
      throw new RaftError('Backpressure', `${this.uncommittedBytes} uncommitted bytes; retry later`);
    }
    return this.appendEntry(EntryType.Normal, data);
  }

  /**
   * Leader: proposes one membership change. Refused (RaftError) unless this leader committed
   * an entry in its term and no other change is pending; promote needs a caught-up learner.
   */
  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    this.checkCanPropose();
    if (!this.committedInTerm()) throw new RaftError('ConfChangeInProgress', 'the leader has not committed an entry in its term yet; retry shortly');
    if (this.pendingConfIndex > this.log.committed) throw new RaftError('ConfChangeInProgress', `a membership change (index ${this.pendingConfIndex}) is still pending`);
    validateConfChange(this.conf, cc);
    if (cc.type === 'promote') {
      // The learner must also hold everything committed: a re-added member refuses votes until
      // its log reaches its vote floor (a commit index it learned earlier, so at most ours), and
      // a voter that cannot vote can leave the others short of a quorum for good once a member
      // is gone (simulator seed 2769 --nodes 3: the removed leader's place was never filled).
      const pr = this.progress.get(cc.node);
      const lagBound = this.log.lastIndex() - this.cfg.maxLearnerLagEntries;
      const need = this.cfg.brokenVariants?.promoteBelowCommit === true ? lagBound : Math.max(this.log.committed, lagBound);
      if (pr === undefined || pr.match < need) {
        throw new RaftError('LearnerNotCaughtUp', `learner ${cc.node} has match ${pr?.match ?? 0}, needs >= ${need}`);
      }
    }
    const data = encodeConfChange(cc);
    const pos = this.appendEntry(EntryType.ConfChange, data);
    this.pendingConfIndex = pos.index;
    return pos;
  }

  /**
   * Requests a linearizable read point; the answer arrives as ReadState{requestId, index} in
   * a later Ready. Throws RaftError NotLeader when no leader is known.
   */
  readIndex(requestId: number): void {
    if (this.role === 'leader') {
      if (!this.handleReadRequest({ from: this.id, requestId })) {
        throw new RaftError('Backpressure', `more than ${MAX_PENDING_READS} reads pending`);
      }
      return;
    }
    if (this.lead === null) throw new RaftError('NotLeader', 'no leader is known', null);
    this.send({ type: MessageType.ReadIndex, to: this.lead, context: requestId });
  }

  /**
   * Leader: hands leadership to `to` (default: the most up-to-date other voter) by catching it
   * up and sending TimeoutNow; aborted after electionTicks. Throws RaftError NotLeader,
   * UnknownMember (no such voter) or InvalidConfChange (target is a learner).
   */
  transferLeadership(to?: NodeId): void {
    if (this.role !== 'leader') throw new RaftError('NotLeader', 'only the leader can transfer leadership', this.lead);
    let target = to;
    if (target === undefined) {
      let best: Progress | undefined;
      for (const v of this.conf.voters) {
        if (v === this.id) continue;
        const pr = this.progress.get(v);
        if (pr === undefined) continue;
        // Prefer a member we hear from; among those, the longest matching log.
        const better = best === undefined || (pr.recentActive && !best.recentActive) || (pr.recentActive === best.recentActive && pr.match > best.match);
        if (better) {
          best = pr;
          target = v;
        }
      }
      if (target === undefined) throw new RaftError('UnknownMember', 'no other voter to transfer leadership to');
    }
    if (target === this.id) return;
    if (!isVoter(this.conf, target)) {
      if (isMember(this.conf, target)) throw new RaftError('InvalidConfChange', `${target} is a learner and cannot lead`);
      throw new RaftError('UnknownMember', `${target} is not a voter of this cluster`);
    }
    if (this.leadTransferee === target) return;
    this.leadTransferee = target;
    this.electionElapsed = 0;
    const pr = this.progress.get(target) as Progress;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.pendingBroadcast = true;
  }

  /** Starts an election now (pre-vote first if configured). No-op for a leader or a non-voter. */
  campaign(): void {
    this.hup(false);
  }

  /** True when ready() would return work. */
  hasReady(): boolean {
    if (this.msgs.length > 0 || this.readStates.length > 0 || this.log.hasUnstable() || this.pendingSnapshot !== null) return true;
    if (this.role === 'leader' && (this.pendingBroadcast || this.readOnly.batch.length > 0)) return true;
    if (this.prevSoft.leader !== this.lead || this.prevSoft.role !== this.role) return true;
    const h = this.prevHard;
    if (h.term !== this.term || h.vote !== this.vote || h.commit !== this.log.committed || (h.voteFloor ?? 0) !== this.voteFloor) return true;
    return Math.min(this.log.committed, this.log.lastIndex()) > this.appliedHandedTo;
  }

  /** Takes the next batch of work; see Ready in types.ts for the driver's duties. */
  ready(): Ready {
    if (this.role === 'leader') this.flushLeader();
    const soft: SoftState = { leader: this.lead, role: this.role };
    const hard = this.hardState();
    const rd: {
      softState?: SoftState;
      hardState?: HardState;
      entries: readonly Entry[];
      snapshot?: SnapshotMeta;
      messages: readonly Message[];
      committedEntries: readonly Entry[];
      readStates: readonly ReadState[];
    } = { entries: this.log.takeUnstable(), messages: this.msgs, committedEntries: EMPTY_ENTRIES, readStates: this.readStates };
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) {
      rd.softState = soft;
      this.prevSoft = soft;
    }
    if (!sameHardState(hard, this.prevHard)) {
      rd.hardState = hard;
      this.prevHard = hard;
    }
    if (this.pendingSnapshot !== null) {
      rd.snapshot = this.pendingSnapshot;
      this.appliedHandedTo = Math.max(this.appliedHandedTo, this.pendingSnapshot.index);
      this.pendingSnapshot = null;
    }
    // Every entry <= lastIndex is durable or in this Ready's entries, so all committed ones may go.
    const hi = Math.min(this.log.committed, this.log.lastIndex());
    if (hi > this.appliedHandedTo) {
      rd.committedEntries = this.log.slice(this.appliedHandedTo + 1, hi + 1);
      this.appliedHandedTo = hi;
    }
    this.msgs = [];
    this.readStates = [];
    return rd;
  }

  /**
   * Leader, between ready() and advance(), while the driver writes that Ready: the work that does
   * not depend on the write, so acknowledgements arriving meanwhile are not held for a whole
   * fsync. Committed entries, also those of the Ready being written here: the leader counts its
   * own copy only once durable, so they are committed by acknowledgements of a quorum of other
   * members, each sent after its own synced write, and applying them does not wait on ours
   * (etcd-raft applies committed unstable entries too). A lone client's write then waits for the
   * faster of the leader's fsync and a follower's fsync plus two hops, not for both. In order only:
   * nothing is handed out while an entry handed out before (the outstanding Ready's committed
   * entries) was not durable when that Ready was made, as the driver applies those after the
   * write. And messages the core already queued (heartbeats, vote refusals). Appends for new proposals and
   * the commit broadcast wait for the next Ready: sending them per acknowledgement cost more CPU
   * in smaller messages than it saved in latency. The driver sends, then applies the entries at
   * once (they count as applied on return). Null when this member is not the leader of the
   * outstanding Ready's term (a newer term must be durable before anything is sent); the driver
   * calls this only if that Ready's term and vote were already durable.
   */
  leaderProgress(): LeaderProgress | null {
    if (this.role !== 'leader' || this.term !== this.prevHard.term) return null;
    let committedEntries: readonly Entry[] = EMPTY_ENTRIES;
    const hi = this.appliedHandedTo <= this.log.persisted ? this.log.committed : this.appliedHandedTo;
    if (hi > this.appliedHandedTo) {
      committedEntries = this.log.slice(this.appliedHandedTo + 1, hi + 1);
      this.appliedHandedTo = hi;
      this.applied = hi;
    }
    if (this.msgs.length === 0 && committedEntries.length === 0 && this.readStates.length === 0) return null;
    const out: LeaderProgress = { messages: this.msgs, committedEntries, readStates: this.readStates };
    this.msgs = [];
    this.readStates = [];
    return out;
  }

  /** Everything in `rd` was persisted, sent and applied. */
  advance(rd: Ready): void {
    if (rd.snapshot !== undefined) {
      const s = this.log.snapshot;
      if (s.index === rd.snapshot.index && s.term === rd.snapshot.term && this.log.persisted < s.index) this.log.persisted = s.index;
      if (rd.snapshot.index > this.applied) this.applied = rd.snapshot.index;
    }
    if (rd.entries.length > 0) this.log.stableTo(rd.entries);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined && lastApplied.index > this.applied) this.applied = lastApplied.index;
    assertInvariant(this.applied <= this.log.committed || this.log.allowCommittedTruncation, `applied ${this.applied} beyond commit ${this.log.committed}`);
    if (this.role === 'leader') {
      // The leader's own replica counts only once durable.
      const self = this.progress.get(this.id);
      if (self !== undefined) self.maybeUpdate(this.log.persisted);
      this.maybeCommit();
    }
  }

  /**
   * The driver took a state machine snapshot at applied index `index` (or at `meta.index`):
   * entries <= index are dropped. Returns the snapshot's metadata with the configuration as
   * of that index. A no-op (returning the current snapshot) at or below the snapshot index.
   */
  compact(indexOrMeta: number | SnapshotMeta): SnapshotMeta {
    const index = typeof indexOrMeta === 'number' ? indexOrMeta : indexOrMeta.index;
    if (index <= this.log.snapshot.index) return this.log.snapshot;
    assertInvariant(index <= this.applied, `compaction to ${index} beyond applied ${this.applied}`);
    const term = this.log.term(index) as number;
    const meta: SnapshotMeta = { index, term, confState: this.confAt(index) };
    this.log.compactTo(meta);
    this.confHistory = this.confHistory.filter((c) => c.index > index);
    return meta;
  }

  /**
   * The log's snapshot index: confStateAt describes nothing below it. A snapshot received from
   * the leader moves it at once, before the driver installs it with the next Ready.
   */
  snapshotIndex(): number {
    return this.log.snapshot.index;
  }

  /**
   * The configuration as of log index `index` (snapshot index <= index <= commit): what a
   * snapshot taken at `index` must record. Prefer this over a configuration tracked by the
   * driver, which cannot know the bootstrap voters of a member that joined with none.
   */
  confStateAt(index: number): ConfState {
    assertInvariant(index >= this.log.snapshot.index && index <= this.log.committed, `confStateAt(${index}) outside [${this.log.snapshot.index}, ${this.log.committed}]`);
    return this.confAt(index);
  }

  /** The transport could not reach `id`: stop pipelining to it and probe again. */
  reportUnreachable(id: NodeId): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(id);
    if (pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /** The driver finished (ok) or gave up (!ok) sending a snapshot to `id`. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(id);
    if (pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or a heartbeat reply) before probing again.
    pr.probeSent = true;
  }

  /** A snapshot of the member's state for status pages and metrics. */
  status(): RaftStatus {
    const progress = new Map<NodeId, ProgressStatus>();
    if (this.role === 'leader') for (const [id, pr] of this.progress) progress.set(id, pr.toStatus());
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      role: this.role,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.applied,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshot.index,
      confState: this.conf,
      confChangePending: this.role === 'leader' && this.pendingConfIndex > this.log.committed,
      leadTransferee: this.leadTransferee,
      progress,
    };
  }

  /** Decodes a ConfChange entry's data (the driver applies membership to its address book). */
  decodeConfChange(data: Uint8Array): ConfChange {
    return decodeConfChange(data);
  }

  // ---------------------------------------------------------------------------------------
  // Roles

  private hardState(): HardState {
    const hs = { term: this.term, vote: this.vote, commit: this.log.committed };
    return this.voteFloor > 0 ? { ...hs, voteFloor: this.voteFloor } : hs;
  }

  private reset(term: number): void {
    if (this.term !== term) {
      assertInvariant(term > this.term, `term going backwards: ${this.term} -> ${term}`);
      this.term = term;
      this.vote = '';
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.rng.intBelow(this.cfg.electionTicks);
    assertInvariant(
      this.randomizedElectionTimeout >= this.cfg.electionTicks && this.randomizedElectionTimeout < 2 * this.cfg.electionTicks,
      `rng returned an election timeout outside [electionTicks, 2*electionTicks): ${this.randomizedElectionTimeout}`,
    );
    this.leadTransferee = null;
    this.votes.clear();
    this.progress.clear();
    this.readOnly.clear();
    this.pendingBroadcast = false;
    this.leaseDisabled = false;
    this.uncommittedBytes = 0;
    this.pendingConfIndex = 0;
  }

  private becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
    if (lead !== null) this.ticksSinceLeader = 0;
    this.stepFn = this.stepFollower;
  }

  private becomePreCandidate(): void {
    assertInvariant(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    // Term and vote stay: a pre-vote changes nothing durable.
    this.role = 'precandidate';
    this.lead = null;
    this.votes.clear();
    this.electionElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.rng.intBelow(this.cfg.electionTicks);
    this.stepFn = this.stepCandidate;
  }

  private becomeCandidate(): void {
    assertInvariant(this.role !== 'leader', 'a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.stepFn = this.stepCandidate;
  }

  private becomeLeader(): void {
    assertInvariant(this.role === 'candidate', `only a candidate can become leader (was ${this.role})`);
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    this.stepFn = this.stepLeader;
    const next = this.log.lastIndex() + 1;
    for (const v of this.conf.voters) this.progress.set(v, new Progress(next, this.cfg.maxInflightMsgs, false));
    for (const l of this.conf.learners) this.progress.set(l, new Progress(next, this.cfg.maxInflightMsgs, true));
    const self = this.progress.get(this.id);
    assertInvariant(self !== undefined, 'a leader must be a voter of its configuration');
    self.match = this.log.persisted;
    self.becomeReplicate();
    self.recentActive = true;
    // Conf changes from earlier terms may still be uncommitted: wait for our own noop.
    this.pendingConfIndex = this.log.lastIndex();
    // The first entry of a new cluster records the bootstrap configuration durably in the log,
    // so a member that joined with an empty one rebuilds the voters after any restart.
    const first = this.log.lastIndex() === 0 && this.log.snapshot.index === 0;
    this.appendEntry(EntryType.Noop, first ? encodeConfState(this.conf) : EMPTY_DATA);
  }

  private promotable(): boolean {
    return this.confKnown && isVoter(this.conf, this.id);
  }

  /** True while check-quorum says a live leader holds this member: ignore disruptive votes. */
  private inVoteLease(): boolean {
    if (!this.cfg.checkQuorum) return false;
    if (this.role === 'leader') return true;
    return this.lead !== null ? this.electionElapsed < this.cfg.electionTicks : this.ticksSinceLeader < this.cfg.electionTicks;
  }

  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    // A snapshot not yet handed to the driver means our log is about to change.
    if (this.pendingSnapshot !== null) return;
    if (this.cfg.preVote && !transfer) this.campaignPre();
    else this.campaignReal(transfer);
  }

  private campaignPre(): void {
    this.becomePreCandidate();
    this.votes.set(this.id, true);
    if (voteResult(this.conf.voters, this.votes) === 'won') {
      this.campaignReal(false);
      return;
    }
    this.requestVotes(MessageType.PreVote, this.term + 1, false);
  }

  private campaignReal(transfer: boolean): void {
    this.becomeCandidate();
    this.votes.set(this.id, true);
    if (voteResult(this.conf.voters, this.votes) === 'won') {
      this.becomeLeader();
      return;
    }
    this.requestVotes(MessageType.Vote, this.term, transfer);
  }

  private requestVotes(type: MessageType, term: number, transfer: boolean): void {
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    const context = transfer ? VOTE_CONTEXT_TRANSFER : 0;
    for (const v of this.conf.voters) {
      if (v !== this.id) this.send({ type, to: v, term, index, logTerm, context });
    }
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, null);
          return;
        }
        for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
      }
      if (this.leadTransferee !== null) this.leadTransferee = null; // transfer timed out
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.newestRoundId());
    }
  }

  /** Ticks without an ack, with Appends in flight and the member answering heartbeats, after which they count as lost. */
  private lostAppendTicks(): number {
    return Math.max(2, 2 * this.cfg.heartbeatTicks);
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.conf.voters) {
      if (v === this.id || this.progress.get(v)?.recentActive === true) active++;
    }
    return active >= quorumSize(this.conf.voters.length);
  }

  // ---------------------------------------------------------------------------------------
  // Step functions per role

  private handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.PreVote;
    const respType = pre ? MessageType.PreVoteResp : MessageType.VoteResp;
    const unknownConf = !this.confKnown || this.log.lastIndex() < this.voteFloor;
    if (unknownConf && this.cfg.brokenVariants?.voteWithoutConf !== true) {
      // A joiner that has not learned the configuration (e.g. a member removed and re-added
      // under its old name with a wiped disk) holds none of the log it may have acknowledged
      // in an earlier incarnation; a stale candidate whose configuration still counts that
      // name as a voter would win with its vote while the real configuration elects another
      // leader in the same term. It votes once a snapshot or the leader taught it the
      // configuration and it holds the log up to the leader's commit at that time (voteFloor).
      // Original members know theirs from bootstrap.
      this.send({ type: respType, to: m.from, reject: true });
      return;
    }
    const canVote =
      this.vote === m.from ||
      (this.vote === '' && this.lead === null) ||
      (pre && m.term > this.term) ||
      this.cfg.brokenVariants?.voteTwiceInTerm === true;
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A pre-vote answer carries the candidate's future term so it is not taken as stale.
      this.send({ type: respType, to: m.from, term: m.term });
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private stepFollower = (m: Message): void => {
    switch (m.type) {
      case MessageType.Append:
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        this.hup(true);
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ requestId: m.context, index: m.index });
        return;
      default:
        return; // stale or misdirected: ignore
    }
  };

  private stepCandidate = (m: Message): void => {
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        // A leader exists in our term.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case MessageType.VoteResp:
      case MessageType.PreVoteResp: {
        const mine = this.role === 'precandidate' ? MessageType.PreVoteResp : MessageType.VoteResp;
        if (m.type !== mine) return;
        this.votes.set(m.from, !m.reject);
        const result = voteResult(this.conf.voters, this.votes);
        if (result === 'won') {
          if (this.role === 'precandidate') this.campaignReal(false);
          else this.becomeLeader();
        } else if (result === 'lost') {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        return;
    }
  };

  private stepLeader = (m: Message): void => {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return; // not a member of our configuration
    switch (m.type) {
      case MessageType.AppendResp:
        pr.recentActive = true;
        if (m.index > this.log.lastIndex()) return; // malformed: acks what we never sent
        if (m.reject) this.handleAppendReject(m, pr);
        else this.handleAppendAck(m, pr);
        return;
      case MessageType.HeartbeatResp:
        pr.recentActive = true;
        pr.probeSent = false;
        if (m.index <= this.tickCount && m.index > pr.leaseAckTick) pr.leaseAckTick = m.index;
        if (pr.state === 'replicate' && pr.match < pr.next - 1 && this.tickCount - pr.lastProgressTick >= this.lostAppendTicks()) {
          // Appends in flight and no ack for a while although the member answers: they were lost.
          pr.becomeProbe();
        } else if (pr.state === 'snapshot' && this.tickCount - pr.snapshotSentTick >= SNAPSHOT_RESEND_ELECTIONS * this.cfg.electionTicks) {
          // The member answers but the snapshot never landed and the driver reported nothing: resend.
          pr.pendingSnapshot = 0;
          pr.becomeProbe();
        }
        if (pr.match < this.log.lastIndex() || pr.sentCommit < this.log.committed) this.pendingBroadcast = true;
        if (m.context > 0) this.ackReadRound(m.context, m.from);
        return;
      case MessageType.ReadIndex:
        this.handleReadRequest({ from: m.from, requestId: m.context });
        return;
      default:
        return;
    }
  };

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.ticksSinceLeader = 0;
    this.lead = from;
  }

  // ---------------------------------------------------------------------------------------
  // Follower: replication

  private handleAppend(m: Message): void {
    const log = this.log;
    if (m.index < log.committed && !log.allowCommittedTruncation) {
      this.send({ type: MessageType.AppendResp, to: m.from, index: log.committed });
      return;
    }
    if (m.index === 0 && m.snapshot !== undefined && !this.confKnown) {
      this.adoptBootstrapConf(m.snapshot, log.committed);
      this.voteFloor = Math.max(this.voteFloor, m.commit);
    }
    if (log.matchTerm(m.index, m.logTerm)) {
      const lastNew = log.appendFromLeader(m.index, m.entries);
      this.commitTo(Math.min(m.commit, lastNew));
      if (m.entries.length === 0 && m.context === APPEND_CONTEXT_COMMIT_ONLY) return;
      this.send({ type: MessageType.AppendResp, to: m.from, index: lastNew });
      return;
    }
    // Fast backtracking: point the leader at the last index that can match in its term.
    const hint = log.findConflictByTerm(Math.min(m.index, log.lastIndex()), m.logTerm);
    this.send({ type: MessageType.AppendResp, to: m.from, index: m.index, reject: true, rejectHint: hint, rejectHintTerm: log.term(hint) ?? 0 });
  }

  private handleHeartbeat(m: Message): void {
    // The leader sends min(our match, its commit), which our log holds.
    this.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: MessageType.HeartbeatResp, to: m.from, context: m.context, index: m.index });
  }

  private handleSnapshot(m: Message): void {
    const meta = m.snapshot as SnapshotMeta;
    const log = this.log;
    if (meta.index <= log.committed) {
      this.send({ type: MessageType.AppendResp, to: m.from, index: log.committed });
      return;
    }
    if (log.matchTerm(meta.index, meta.term)) {
      // We hold the snapshot's last entry: everything up to it is committed, no restore needed.
      this.commitTo(meta.index);
      this.send({ type: MessageType.AppendResp, to: m.from, index: log.committed });
      return;
    }
    log.restore(meta);
    if (!this.confKnown) this.voteFloor = Math.max(this.voteFloor, meta.index, m.commit);
    this.conf = meta.confState;
    this.confKnown = true;
    this.confHistory = [];
    this.pendingSnapshot = meta;
    this.send({ type: MessageType.AppendResp, to: m.from, index: meta.index });
  }

  // ---------------------------------------------------------------------------------------
  // Commit and membership

  /** Moves commit forward, applying membership changes and releasing uncommitted bytes. */
  private commitTo(index: number): void {
    const old = this.log.committed;
    if (index <= old) return;
    this.log.commitTo(index);
    for (let i = old + 1; i <= index; i++) {
      const e = this.log.entry(i);
      if (this.role === 'leader' && e.term === this.term) this.uncommittedBytes = Math.max(0, this.uncommittedBytes - e.data.length);
      if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
      else if (e.index === 1 && e.type === EntryType.Noop) this.maybeAdoptFromNoop(e);
    }
    if (this.role === 'leader') {
      this.pendingBroadcast = true;
      if (this.committedInTerm()) this.readOnly.releaseBeforeCommit();
    }
  }

  /** Leader: commits what a quorum of voters holds; only entries of the current term count. */
  private maybeCommit(): boolean {
    let advanced = false;
    // Bounded: each pass commits more; a membership change can lower the quorum once more.
    for (let pass = 0; pass < 4 && this.role === 'leader'; pass++) {
      const mci = committedIndex(this.conf.voters, (id) => (id === this.id ? this.log.persisted : (this.progress.get(id)?.match ?? 0)));
      if (mci <= this.log.committed) break;
      if (this.log.term(mci) !== this.term && this.cfg.brokenVariants?.commitPreviousTermByCount !== true) break;
      this.commitTo(mci);
      advanced = true;
    }
    return advanced;
  }

  private committedInTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private applyConfEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    const before = this.conf;
    this.conf = applyConfChange(before, cc);
    this.confHistory.push({ index: e.index, conf: this.conf });
    if (this.role !== 'leader' || this.conf === before) return;
    switch (cc.type) {
      case 'addLearner':
        this.progress.set(cc.node, new Progress(this.log.lastIndex() + 1, this.cfg.maxInflightMsgs, true));
        break;
      case 'promote': {
        const pr = this.progress.get(cc.node);
        if (pr !== undefined) pr.isLearner = false;
        break;
      }
      case 'remove': {
        const pr = this.progress.get(cc.node);
        // Nothing goes to the removed member after this, so it would never learn that its removal
        // committed: one last Append carries the entries up to the removal (it may not have
        // acknowledged them yet) and the commit, so it applies its removal and stops serving.
        // A member cut off now learns it when it next campaigns (lateFarewell).
        if (pr !== undefined && cc.node !== this.id && this.cfg.notifyRemovedMembers !== false) this.sendCommitFrom(cc.node, pr.match, e.index);
        this.progress.delete(cc.node);
        if (this.leadTransferee === cc.node) this.leadTransferee = null;
        if (cc.node === this.id) {
          this.handOverOnRemoval();
          this.becomeFollower(this.term, null);
          return;
        }
        break;
      }
    }
    this.pendingBroadcast = true;
  }

  /** The leader told us the bootstrap configuration: rebuild ours on top of it (changes up to `upTo`). */
  private adoptBootstrapConf(meta: SnapshotMeta, upTo: number): void {
    if (this.log.snapshot.index !== 0 || this.confKnown) return;
    this.log.adoptBootstrapConf(meta);
    this.conf = meta.confState;
    this.confHistory = [];
    this.confKnown = true;
    for (let i = 1; i <= upTo; i++) {
      const e = this.log.entry(i);
      if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
    }
  }

  /** The committed index-1 noop of a new cluster carries the bootstrap configuration. */
  private maybeAdoptFromNoop(e: Entry): void {
    if (this.confKnown || e.data.length === 0) return;
    const cs = decodeConfState(e.data);
    if (cs !== null && cs.voters.length > 0) this.adoptBootstrapConf({ index: 0, term: 0, confState: cs }, 1);
  }

  /**
   * This leader's removal committed: tell every member the commit (so they learn the new
   * configuration now) and, if a voter holds our whole log, let it campaign at once.
   */
  private handOverOnRemoval(): void {
    const log = this.log;
    let best: NodeId | null = null;
    for (const [id, pr] of this.progress) {
      if (id === this.id || !this.sendCommitFrom(id, pr.match, pr.match)) continue;
      if (!pr.isLearner && isVoter(this.conf, id) && pr.match === log.lastIndex() && best === null) best = id;
    }
    if (best !== null) this.sendTimeoutNow(best);
  }

  /**
   * An Append outside the replication flow (no progress is advanced): from `prevIndex`, where
   * `to`'s log is known to match ours, with the entries up to `upTo` and our commit. False
   * (nothing sent) when that point is compacted away or beyond our log.
   */
  private sendCommitFrom(to: NodeId, prevIndex: number, upTo: number): boolean {
    const log = this.log;
    if (prevIndex < log.firstIndex() - 1) return false;
    const prevTerm = log.term(prevIndex);
    if (prevTerm === undefined) return false;
    const entries = prevIndex < upTo ? log.slice(prevIndex + 1, upTo + 1, this.cfg.maxSizePerMsgBytes) : EMPTY_ENTRIES;
    this.send({ type: MessageType.Append, to, index: prevIndex, logTerm: prevTerm, entries, commit: log.committed });
    return true;
  }

  /**
   * A pre-vote from a member our committed configuration does not hold: typically one removed
   * while it was cut off, so it missed the farewell Append and campaigns on its old
   * configuration. Its pre-vote names its last entry; if ours matches there (the log matching
   * property then says everything before matches too), send it our committed entries after it
   * — its removal among them — so it applies the removal and stops serving. Not when its term
   * is above ours: it would refuse our Append as stale and its answer would depose us. A joiner
   * not yet added only receives committed entries, which any follower may hold. Repeated at
   * each of its pre-votes, so a long gap is closed one message-size slice at a time.
   */
  private lateFarewell(m: Message): void {
    if (this.cfg.notifyRemovedMembers === false || m.term > this.term + 1) return;
    if (m.index > this.log.lastIndex() || this.log.term(m.index) !== m.logTerm) return;
    this.sendCommitFrom(m.from, m.index, Math.max(m.index, this.log.committed));
  }

  private confAt(index: number): ConfState {
    let conf = this.log.snapshot.confState;
    for (const c of this.confHistory) {
      if (c.index > index) break;
      conf = c.conf;
    }
    return conf;
  }

  // ---------------------------------------------------------------------------------------
  // Leader: proposals and replication

  private checkCanPropose(): void {
    if (this.role !== 'leader') throw new RaftError('NotLeader', this.lead === null ? 'no leader is known' : `the leader is ${this.lead}`, this.lead);
    if (this.leadTransferee !== null) throw new RaftError('TransferInProgress', `leadership is moving to ${this.leadTransferee}`, this.lead);
  }

  private appendEntry(type: EntryType, data: Uint8Array): { index: number; term: number } {
    const index = this.log.lastIndex() + 1;
    this.log.appendOne({ term: this.term, index, type, data });
    this.uncommittedBytes += data.length;
    this.pendingBroadcast = true;
    return { index, term: this.term };
  }

  private handleAppendReject(m: Message, pr: Progress): void {
    let hint = m.rejectHint;
    if (m.rejectHintTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.rejectHintTerm);
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      this.pendingBroadcast = true;
    }
  }

  private handleAppendAck(m: Message, pr: Progress): void {
    // A probing leader has sent nothing below its probe point since the progress began: a lower
    // ack answers an Append sent to an earlier incarnation of this name (removed, wiped, re-added)
    // and would set a match the new log does not have, after which its rejections look stale
    // forever (simulator seed 5099160 --nodes 5).
    if (pr.state === 'probe' && m.index < pr.next - 1 && this.cfg.brokenVariants?.trustStaleAcks !== true) return;
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index)) {
      pr.lastProgressTick = this.tickCount;
      if (pr.state === 'probe') {
        pr.becomeReplicate();
      } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === 'replicate') {
        pr.inflights.freeLE(m.index);
      }
      this.maybeCommit();
      this.pendingBroadcast = true;
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    } else if (wasPaused) {
      this.pendingBroadcast = true;
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    // The target will campaign past every follower's lease: our own lease is void from now on.
    this.leaseDisabled = true;
    this.send({ type: MessageType.TimeoutNow, to });
  }

  /** Builds the Appends (and read rounds) owed since the last Ready: one pass per follower. */
  private flushLeader(): void {
    if (this.pendingBroadcast) {
      this.pendingBroadcast = false;
      for (const [id, pr] of this.progress) {
        if (id === this.id) continue;
        // Bounded by the inflight window: each send either fills a slot or pauses the follower.
        for (let n = 0; n <= this.cfg.maxInflightMsgs; n++) {
          // A probe goes out even when empty: its answer tells us where the logs match.
          if (!this.maybeSendAppend(id, pr, pr.state === 'probe' || pr.sentCommit < this.log.committed)) break;
        }
      }
    }
    if (this.readOnly.batch.length > 0) {
      if (this.cfg.leaseRead && this.leaseValid()) {
        for (const r of this.readOnly.takeBatch()) this.answerRead(r, this.log.committed);
      } else {
        const round = this.readOnly.startRound(this.log.committed, this.id);
        // A single voter confirms its own round at once.
        if (!this.ackReadRound(round, this.id)) this.bcastHeartbeat(round);
      }
    }
  }

  /** Sends one Append (or Snapshot) to `to` if its progress allows; true if something was sent. */
  private maybeSendAppend(to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false;
    const log = this.log;
    const prevIndex = pr.next - 1;
    const prevTerm = log.term(prevIndex);
    if (prevTerm === undefined) {
      assertInvariant(prevIndex < log.snapshot.index, `progress of ${to} points past our log: next ${pr.next}, last ${log.lastIndex()}`);
      return this.sendSnapshot(to, pr);
    }
    const last = log.lastIndex();
    const entries = pr.next <= last ? log.slice(pr.next, last + 1, this.cfg.maxSizePerMsgBytes) : EMPTY_ENTRIES;
    if (entries.length === 0 && !sendIfEmpty) return false;
    const commit = log.committed;
    if (prevIndex === 0 && log.snapshot.index === 0) {
      // From the very start: carry the bootstrap configuration a joining member cannot know.
      this.send({ type: MessageType.Append, to, index: prevIndex, logTerm: prevTerm, entries, commit, snapshot: log.snapshot });
    } else if (entries.length === 0 && pr.state === 'replicate') {
      this.send({ type: MessageType.Append, to, index: prevIndex, logTerm: prevTerm, entries, commit, context: APPEND_CONTEXT_COMMIT_ONLY });
    } else {
      this.send({ type: MessageType.Append, to, index: prevIndex, logTerm: prevTerm, entries, commit });
    }
    pr.sentCommit = commit;
    const lastSent = entries[entries.length - 1];
    if (pr.state === 'replicate') {
      if (lastSent !== undefined) {
        if (pr.match === pr.next - 1) pr.lastProgressTick = this.tickCount; // window was empty
        pr.next = lastSent.index + 1;
        pr.inflights.add(lastSent.index);
      }
    } else {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    // Do not stream a snapshot to a member we have not heard from (it may be down).
    if (!pr.recentActive || this.cfg.brokenVariants?.neverSendSnapshot === true) return false;
    const meta = this.log.snapshot;
    this.send({ type: MessageType.Snapshot, to, snapshot: meta, commit: this.log.committed });
    pr.becomeSnapshot(meta.index);
    pr.snapshotSentTick = this.tickCount;
    return true;
  }

  private bcastHeartbeat(context: number): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Lease stamp in `index`: the follower echoes it, proving it heard us at or after this tick.
      this.send({ type: MessageType.Heartbeat, to: id, commit: Math.min(pr.match, this.log.committed), context, index: this.tickCount });
    }
  }

  // ---------------------------------------------------------------------------------------
  // Leader: reads

  /** Queues (or answers) one read request; false if the queue is full. */
  private handleReadRequest(r: PendingRead): boolean {
    if (this.cfg.brokenVariants?.readIndexWithoutQuorum === true) {
      this.answerRead(r, this.log.committed);
      return true;
    }
    if (this.readOnly.size >= MAX_PENDING_READS) return false;
    this.readOnly.add(r, this.committedInTerm());
    return true;
  }

  private answerRead(r: PendingRead, index: number): void {
    if (r.from === this.id) this.readStates.push({ requestId: r.requestId, index });
    else this.send({ type: MessageType.ReadIndexResp, to: r.from, context: r.requestId, index });
  }

  /** Records an ack of read round `round`; answers every round it confirms. True if confirmed. */
  private ackReadRound(round: number, from: NodeId): boolean {
    const done = this.readOnly.ack(round, from, (acks) => hasQuorum(this.conf.voters, acks));
    for (const d of done) for (const r of d.reads) this.answerRead(r, d.index);
    return done.length > 0;
  }

  /**
   * Lease: a quorum of voters acknowledged heartbeats sent within the last electionTicks - 2
   * ticks. A follower refuses votes until electionTicks of its own ticks passed since it heard
   * us; its first tick may come at once (members' ticks are not in phase), so that is only
   * electionTicks - 1 tick lengths of real time after the heartbeat was sent. One more tick is
   * kept as margin. A leader's driver must tick by real time (see MemberServer.advanceClock).
   */
  private leaseValid(): boolean {
    if (this.leaseDisabled || !this.committedInTerm()) return false;
    const leaseTicks = Math.max(1, this.cfg.electionTicks - 2);
    let n = 0;
    for (const v of this.conf.voters) {
      if (v === this.id) {
        n++;
        continue;
      }
      const pr = this.progress.get(v);
      if (pr !== undefined && pr.leaseAckTick >= 0 && this.tickCount - pr.leaseAckTick < leaseTicks) n++;
    }
    return n >= quorumSize(this.conf.voters.length);
  }

  // ---------------------------------------------------------------------------------------
  // Messages

  private send(f: MessageFields): void {
    this.msgs.push({
      from: this.id,
      term: this.term,
      logTerm: 0,
      index: 0,
      entries: EMPTY_ENTRIES,
      commit: 0,
      reject: false,
      rejectHint: 0,
      rejectHintTerm: 0,
      context: 0,
      ...f,
    });
  }
}
