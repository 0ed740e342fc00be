// The member driver: one async loop that feeds the pure raft core with ticks, peer messages,
// proposals and read requests, and carries out each Ready in the order the core demands:
// persist (one synced batch) → send → install snapshot / apply committed entries → answer
// reads → advance. Everything the HTTP API needs goes through the MemberService it implements.
import type { ConfChange, ConfState, Entry, HardState, LeaderProgress, Message, RaftStatus, Ready, SnapshotMeta, SoftState } from './raft/types.js';
import { EntryType, MessageType } from './raft/types.js';
import { RaftError, RaftInvariantError } from './raft/errors.js';
import type { RaftStorage, StoredSnapshot, PersistBatch } from './storage/types.js';
import type { Transport } from './transport/types.js';
import type { DaemonConfig } from './config/flags.js';
import { LIMITS } from './config/limits.js';
import type { Logger } from './observability/logger.js';
import type { RaftkvMetrics } from './observability/metrics.js';
import type { MemberInfo, MemberRole, MemberService, MemberStatus, PeerFaults } from './member-service.js';
import type { AddressBook } from './server/address-book.js';
import { decodeAddressContext, encodeAddressContext } from './server/address-book.js';
import { MEMBER_ERROR_STATUS, MemberError, fromRaftError } from './server/errors.js';
import { ProposalTracker, ReadTracker } from './server/pending.js';
import { decodeSnapshot, encodeSnapshot } from './server/snapshot-envelope.js';
import { decodeDriverEntry, encodePublish, isDriverEntry } from './server/driver-entries.js';
import { context } from '@opentelemetry/api';
import { EntryTraces, SPAN, extractContext, injectTraceParent, tracingEnabled, withChild } from './observability/tracing.js';

/** Where the core put a proposal: the entry the driver waits to see applied. */
export interface ProposalPosition {
  readonly index: number;
  readonly term: number;
}

/** What the driver needs from the raft core (RawNode satisfies it). */
export interface DriverRaftNode {
  tick(): void;
  step(message: Message): void;
  propose(data: Uint8Array): ProposalPosition;
  proposeConfChange(change: ConfChange): ProposalPosition;
  readIndex(requestId: number): void;
  transferLeadership(to: string): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready): void;
  /** Leader, while its outstanding Ready is written: what may be sent and applied meanwhile (RawNode.leaderProgress). */
  leaderProgress(): LeaderProgress | null;
  /** The driver stored a snapshot at `meta`: the core forgets entries up to meta.index and returns its own view of the meta. */
  compact(meta: SnapshotMeta): SnapshotMeta;
  reportUnreachable(id: string): void;
  /** `id`'s process is gone (its peer port refuses connections); see RawNode.peerGone. */
  peerGone(id: string): void;
  reportSnapshot(id: string, ok: boolean): void;
  status(): RaftStatus;
  decodeConfChange(data: Uint8Array): ConfChange;
  /** The configuration as of `index` (snapshot index <= index <= commit). */
  confStateAt(index: number): ConfState;
  /** The core log's snapshot index (a received snapshot moves it before the driver installs it). */
  snapshotIndex(): number;
}

/** What the driver needs from the state machine (the KV store satisfies it). */
export interface DriverStateMachine<R> {
  /** Applies one committed command; deterministic; returns the typed result for the proposer. */
  apply(index: number, term: number, data: Uint8Array): R;
  /** Records an entry that carries no command (noop, conf change, driver entry), keeping the machine's applied index exact. */
  applyNoop(index: number, term: number): void;
  snapshot(): Uint8Array;
  restore(image: Uint8Array): void;
  /** The KV revision applied locally (status extension). */
  readonly revision: number;
  /** Keys stored (metric). */
  readonly size: number;
}

/** Optional transport capability: drop traffic to/from peers (fault injection). */
export interface FaultableTransport {
  setFaults(faults: { readonly dropOutgoingTo: readonly string[]; readonly dropIncomingFrom: readonly string[] }): void;
}

/** Everything a MemberServer drives; main.ts (server/wiring.ts) builds it, tests build it with in-memory parts. */
export interface MemberServerOptions<S extends DriverStateMachine<R>, R> {
  readonly config: DaemonConfig;
  readonly logger: Logger;
  readonly metrics: RaftkvMetrics;
  readonly storage: RaftStorage;
  readonly transport: Transport & Partial<FaultableTransport>;
  readonly node: DriverRaftNode;
  readonly stateMachine: S;
  readonly addressBook: AddressBook;
  /** Configuration at `snapshot` (or bootstrap); conf changes applied later update it. */
  readonly confState: ConfState;
  readonly snapshot: StoredSnapshot | null;
  readonly hardState: HardState;
  /** Called once for a violated invariant or an unrecoverable error: the process must exit 1. */
  readonly onFatal: (err: unknown) => void;
  readonly nowMs?: () => number;
  /**
   * A deliberate bug, ONLY for proving the chaos checkers catch it (set only by the test entry
   * point test/chaos/planted-raftkv.ts, never by the production one):
   * 'stale-read' answers linearizable reads from local state without ReadIndex.
   */
  readonly plantedBug?: string;
  /**
   * Called after each committed entry is applied, in index order, with the KV revision before
   * and after it (continuous backup shipping taps here). Must be cheap and must not throw.
   */
  readonly onApplied?: (entry: Entry, revisionBefore: number, revisionAfter: number) => void;
  /** Extension shown in /v1/status as `backupShipping` (when backups are shipped). */
  readonly backupShippingStatus?: () => NonNullable<MemberStatus['backupShipping']>;
}

const ROLES: readonly MemberRole[] = ['leader', 'follower', 'candidate', 'learner'];

/**
 * Every `reason` of raftkv_server_proposals_failed_total: the driver's refusals (MemberError
 * codes), the core's (ProposalTooLarge; its NotLeader and Backpressure share the driver's names),
 * and the outcomes counted later (timeout, storage, snapshot).
 */
export const PROPOSAL_FAILURE_REASONS: readonly string[] = [...Object.keys(MEMBER_ERROR_STATUS), 'ProposalTooLarge', 'timeout', 'storage', 'snapshot'];

/** The core refused a proposal because leadership is being handed off (proposeCommand waits). */
class TransferUnderWay extends Error {
  constructor() {
    super('a leadership transfer is under way');
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sameConf(a: ConfState, b: ConfState): boolean {
  const norm = (x: readonly string[]): string => [...x].sort().join(',');
  return norm(a.voters) === norm(b.voters) && norm(a.learners) === norm(b.learners);
}

function snapshotKey(meta: { readonly index: number; readonly term: number }): string {
  return `${meta.index}/${meta.term}`;
}

/**
 * One raftkv member: drives the core, owns the pending requests and implements MemberService.
 * Lifecycle: construct → `start()` → … → `stop()` (idempotent). Not reusable after stop.
 */
export class MemberServer<S extends DriverStateMachine<R>, R> implements MemberService {
  readonly name: string;
  readonly stateMachine: S;

  private readonly o: MemberServerOptions<S, R>;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly proposals: ProposalTracker<R | undefined>;
  private readonly reads: ReadTracker;
  private readonly book: AddressBook;
  private confState: ConfState;
  private term: number;
  private commitIndex: number;
  private softState: SoftState = { leader: null, role: 'follower' };
  private appliedIndex: number;
  private appliedTerm: number;
  private lastSnapshot: StoredSnapshot | null;
  private readonly stashedSnapshots = new Map<string, Uint8Array>();
  private readonly leaderHistory: { term: number; leader: string; atMs: number }[] = [];
  private leaderWaiters: { resolve: () => void; test: () => boolean }[] = [];
  private snapshotRequests: { resolve: (v: { index: number }) => void; reject: (e: Error) => void }[] = [];

  private ticker: NodeJS.Timeout | null = null;
  private faultTimer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private loopStopping = false;
  private stopping = false;
  /**
   * This member applied a configuration that removed it (or restarted with one): it serves no
   * client traffic and is never ready. Cleared when an applied configuration holds it again (a
   * re-add). Not derived from the configuration alone: a joiner's first snapshot may predate its add.
   */
  private removed = false;
  private stopped = false;
  /** Set while storage refuses writes; cleared by the next successful persist. */
  private writeBlocked: MemberError | null = null;
  private ticks = 0;
  /** Monotonic time (performance.now()) up to which ticks were given to the core. */
  private tickedUntilMs = 0;
  /** Tick at which progress and key counts were last sampled. */
  private sampledAtTick = 0;
  /** Which trace proposed (leader) or shipped (follower) which entry; used only with tracing on. */
  private readonly entryTraces = new EntryTraces();
  /** Client URLs peers announced in their transport hello (bounded by 2 × maxMembers). */
  private readonly learnedClientUrls = new Map<string, string>();
  /** Leader: publish entries proposed and not yet applied, by member. */
  private readonly publishing = new Map<string, string>();
  /** A commit-only hard state not written yet (goes with the next write). */
  private deferredHardState: HardState | null = null;
  /** What is on disk: term, vote and vote floor of the stored hard state, index of the last stored entry. */
  private durable: { term: number; vote: string; voteFloor: number; lastIndex: number };
  /** Duration of the latest persist (trace logging). */
  private lastPersistMs = 0;
  /**
   * True while this leader's Ready is being written after its messages went out: commits that
   * acknowledgements bring meanwhile are applied at once (progressWhileWriting) instead of
   * waiting for the fsync to end.
   */
  private writingAsLeader = false;
  private progressScheduled = false;
  /** Leader: tick at which a snapshot was last sent to each follower. */
  private readonly snapshotSentAtTick = new Map<string, number>();
  /** Ticks a follower may take to acknowledge a snapshot before it is sent again. */
  private readonly snapshotAckTicks: number;
  /** Applied index at the last failed snapshot (retries are spaced out from it). */
  private snapshotFailedAtIndex = -Infinity;

  constructor(options: MemberServerOptions<S, R>) {
    this.o = options;
    this.name = options.config.name;
    this.stateMachine = options.stateMachine;
    this.log = options.logger;
    this.now = options.nowMs ?? Date.now;
    this.proposals = new ProposalTracker(options.config.maxPendingProposals, LIMITS.maxPendingProposalBytes);
    this.reads = new ReadTracker(LIMITS.maxPendingReads);
    this.book = options.addressBook;
    this.confState = options.confState;
    this.removed = options.confState.voters.length > 0 && !this.inConfiguration(options.confState);
    this.term = options.hardState.term;
    this.commitIndex = options.hardState.commit;
    this.lastSnapshot = options.snapshot;
    this.appliedIndex = options.snapshot?.meta.index ?? 0;
    this.appliedTerm = options.snapshot?.meta.term ?? 0;
    this.snapshotAckTicks = Math.ceil(LIMITS.snapshotAckTimeoutMs / options.config.heartbeatIntervalMs);
    // Series dashboards and alerts query exist at 0 from the start (etcd does the same), so a
    // panel reads 0, not "No data", and increase() has a baseline before the first failure.
    for (const reason of PROPOSAL_FAILURE_REASONS) options.metrics.proposalsFailed.inc({ reason }, 0);
    for (const peer of [...options.confState.voters, ...options.confState.learners]) this.exportPeerSeries(peer);
    this.updateRoleMetrics();
    // At construction the core's log is exactly what storage loaded.
    this.durable = { term: options.hardState.term, vote: options.hardState.vote, voteFloor: options.hardState.voteFloor ?? 0, lastIndex: options.node.status().lastIndex };
  }

  /**
   * A peer told us its client URL (transport hello). The leader replicates it with a publish
   * entry, so every member can show it and redirect to it later.
   */
  peerClientUrl(peer: string, clientUrl: string): void {
    if (this.stopped || peer === this.name || !/^https?:\/\/[^\s/]+:\d{1,5}$/.test(clientUrl)) return;
    if (!this.learnedClientUrls.has(peer) && this.learnedClientUrls.size >= LIMITS.maxMembers * 2) return;
    this.learnedClientUrls.set(peer, clientUrl);
    this.publishPeers();
  }

  /** Leader: proposes a publish entry for every learned client URL the replicated book lacks. */
  private publishPeers(): void {
    if (this.softState.role !== 'leader' || this.stopping || this.writeBlocked) return;
    for (const [peer, url] of this.learnedClientUrls) {
      if (this.book.get(peer)?.clientUrl === url || this.publishing.get(peer) === url) continue;
      try {
        this.o.node.propose(encodePublish({ name: peer, clientUrl: url }));
        this.publishing.set(peer, url);
      } catch (err) {
        if (err instanceof RaftError) return; // e.g. a transfer under way: the next hello or election retries
        throw err;
      }
    }
    this.notify();
  }

  /** The transport could not deliver to `peer`: the core stops pipelining to it and probes. */
  peerUnreachable(peer: string): void {
    if (this.stopped) return;
    this.guard(() => this.o.node.reportUnreachable(peer));
  }

  /**
   * `peer`'s peer port refused a connection right after its connection closed: its process is
   * gone (crashed, killed, OOM), not partitioned or paused. A follower of it campaigns as soon as
   * its vote lease ends instead of waiting out the random part of the election timeout.
   */
  peerGone(peer: string): void {
    if (this.stopped) return;
    if (this.softState.role === 'follower' && this.softState.leader === peer) {
      this.log.info({ leader: peer }, 'the leader\'s peer port refuses connections; campaigning as soon as its lease ends');
    }
    this.guard(() => this.o.node.peerGone(peer));
  }

  /** The current term, for log lines. */
  currentTerm(): number {
    return this.term;
  }

  /** Restores the state machine from the stored snapshot, starts the transport, the ticker and the loop. */
  async start(): Promise<void> {
    if (this.lastSnapshot && this.lastSnapshot.data.length > 0) {
      this.stateMachine.restore(decodeSnapshot(this.lastSnapshot.data).kvImage);
    }
    this.syncPeers();
    await this.o.transport.start((m) => this.onMessage(m));
    this.tickedUntilMs = performance.now();
    this.ticker = setInterval(() => this.onTick(), this.o.config.heartbeatIntervalMs);
    this.loopDone = this.runLoop().catch((err: unknown) => this.o.onFatal(err));
    this.log.info({ applied: this.appliedIndex, voters: this.confState.voters, learners: this.confState.learners }, 'member started');
  }

  // ---------------------------------------------------------------------------------------
  // Inputs: ticks, peer messages

  /**
   * Ticks the core. A leader gets one tick per heartbeat interval of monotonic time passed since
   * its last tick, missed ones included: its lease (answering reads without a quorum round)
   * assumes its ticks follow real time, and timer callbacks alone do not — a leader whose thread
   * was held (a synchronous fsync, a long GC pause, SIGSTOP) resumed with fewer ticks than time
   * passed and answered lease reads after another member was elected (a chaos run caught exactly
   * that). It runs before every input the core acts on (timer, peer message, Ready), so the
   * lease is judged on current time; after a long hold check-quorum then steps the leader down.
   * Other members keep one tick per timer callback: a held follower then refuses votes for
   * longer than its election timeout, which is the safe direction for the leader's lease, and
   * followers on a loaded machine do not time out together in bursts. Beyond twice the election
   * timeout every timer has expired anyway, so a long hold gives at most that many ticks.
   */
  private advanceClock(fromTimer: boolean): void {
    if (this.softState.role !== 'leader') {
      if (!fromTimer) return;
      this.tickedUntilMs = performance.now();
      this.tickCore(1);
      return;
    }
    const interval = this.o.config.heartbeatIntervalMs;
    const nowMs = performance.now();
    if (nowMs - this.tickedUntilMs < interval) return;
    const due = Math.floor((nowMs - this.tickedUntilMs) / interval);
    this.tickedUntilMs += due * interval;
    this.tickCore(Math.min(due, Math.ceil((2 * this.o.config.electionTimeoutMs) / interval) + 2));
  }

  private tickCore(n: number): void {
    for (let i = 0; i < n; i++) {
      this.ticks++;
      this.guard(() => this.o.node.tick());
    }
  }

  private onTick(): void {
    if (this.stopped) return;
    this.advanceClock(true);
    const nowMs = this.now();
    const expired = this.proposals.expire(nowMs);
    if (expired > 0) this.o.metrics.proposalsFailed.inc({ reason: 'timeout' }, expired);
    this.reads.expire(nowMs);
    if (this.ticks - this.sampledAtTick >= 10) {
      this.sampledAtTick = this.ticks;
      this.sampleProgress();
      this.o.metrics.keysTotal.set(this.stateMachine.size);
    }
    this.notify();
  }

  private onMessage(m: Message): void {
    if (this.stopped) return;
    this.advanceClock(false);
    if (this.tracingStages() && m.type !== MessageType.Heartbeat && m.type !== MessageType.HeartbeatResp) {
      this.stage('recv', { type: m.type, from: m.from, n: m.entries.length, index: m.index, commit: m.commit, waiting: this.wake !== null });
    }
    if (m.type === MessageType.Snapshot) {
      if (!m.snapshot || !m.snapshotData) {
        this.log.warn({ from: m.from }, 'snapshot message without data dropped');
        return;
      }
      this.stashSnapshot(m.snapshot, m.snapshotData);
    }
    if (m.traceParent !== undefined && tracingEnabled()) {
      const first = m.entries[0];
      if (first) this.entryTraces.remember(first.index, m.traceParent);
    }
    this.guard(() => this.o.node.step(m));
    this.notify();
  }

  private stashSnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    this.stashedSnapshots.set(snapshotKey(meta), data);
    while (this.stashedSnapshots.size > LIMITS.maxStashedSnapshots) {
      const oldest = this.stashedSnapshots.keys().next().value;
      if (oldest === undefined) break;
      this.stashedSnapshots.delete(oldest);
    }
  }

  /**
   * One step of the write path at trace level, stamped in wall-clock microseconds (comparable
   * across the members of one host): `node dist/bench/trace-put.js` merges the members' lines
   * into a per-PUT timeline. Callers check `this.tracingStages()` first.
   */
  private stage(stage: string, fields: Record<string, unknown>): void {
    this.log.trace({ ...fields, stage, tUs: Math.round((performance.timeOrigin + performance.now()) * 1000) }, 'stage');
  }

  private tracingStages(): boolean {
    return this.log.isLevelEnabled('trace');
  }

  /** Runs a core call; refusals are logged, invariant violations stop the member. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (err instanceof RaftError) this.log.debug({ code: err.code }, err.message);
      else this.o.onFatal(err);
    }
  }

  private notify(): void {
    const w = this.wake;
    if (w) {
      this.wake = null;
      w();
    }
    if (this.writingAsLeader && !this.progressScheduled) {
      // Once per event-loop turn: everything read from sockets in this turn goes in one pass.
      this.progressScheduled = true;
      setImmediate(() => this.progressWhileWriting());
    }
  }

  /**
   * While the leader's own write is in flight: apply committed entries (a quorum of the other
   * members holds them durably; our own copy may still be being written) and answer their
   * clients as acknowledgements arrive, instead of after the fsync (RawNode.leaderProgress says
   * why that is safe); new proposals go out with the next Ready.
   */
  private progressWhileWriting(): void {
    this.progressScheduled = false;
    if (!this.writingAsLeader || this.stopped || this.writeBlocked !== null) return;
    let progress: LeaderProgress | null;
    try {
      progress = this.o.node.leaderProgress();
    } catch (err) {
      this.o.onFatal(err); // it refuses nothing: any throw is a broken invariant
      return;
    }
    if (progress === null) return;
    if (this.tracingStages()) this.stage('leader-progress', { committed: progress.committedEntries.length, messages: progress.messages.length });
    for (const m of progress.messages) this.send(m);
    this.o.transport.flush?.();
    if (progress.committedEntries.length > 0) this.apply(progress.committedEntries);
    for (const rs of progress.readStates) this.reads.readState(rs.requestId, rs.index);
    this.reads.applied(this.appliedIndex);
  }

  // ---------------------------------------------------------------------------------------
  // The loop

  private async runLoop(): Promise<void> {
    let woke = false;
    while (!this.loopStopping) {
      this.advanceClock(false);
      this.submitReads();
      if (!this.o.node.hasReady()) {
        if (this.snapshotWanted()) {
          await this.takeSnapshot();
          continue;
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        woke = true;
        continue;
      }
      // Yield to the event loop first, so peer messages and client requests that arrived during
      // the last write (or in the same poll as the wake-up) are in the core and go into this
      // Ready: one synced write for the whole group. Except on a follower woken from idle: what
      // woke it is the leader's Append, and the wake-up already ran after the whole socket read
      // that carried it (every frame in it), so the hop would only delay the follower's fsync,
      // which a lone client's write waits on. A leader keeps the hop: its proposals come from
      // many client sockets read in the same poll.
      if (!woke || this.softState.role === 'leader') {
        await yieldToEventLoop();
        if (this.loopStopping) break;
        this.advanceClock(false);
        this.submitReads();
      }
      woke = false;
      const rd = this.o.node.ready();
      await this.handleReady(rd);
      if (this.snapshotWanted()) await this.takeSnapshot();
    }
  }

  private submitReads(): void {
    if (!this.reads.hasOpenBatch()) return;
    const id = this.reads.takeOpenBatch();
    try {
      this.o.node.readIndex(id);
      this.o.metrics.readIndexTotal.inc();
    } catch (err) {
      if (err instanceof RaftError) this.reads.failBatch(id, fromRaftError(err, (n) => this.leaderAddress(n)));
      else throw err;
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.hardState) {
      this.term = rd.hardState.term;
      this.commitIndex = rd.hardState.commit;
    }
    if (rd.softState) this.onSoftState(rd.softState);
    const t0 = performance.now();
    if (this.tracingStages()) {
      this.stage('ready', { first: rd.entries[0]?.index, last: rd.entries[rd.entries.length - 1]?.index, committedFirst: rd.committedEntries[0]?.index, committedLast: rd.committedEntries[rd.committedEntries.length - 1]?.index, messages: rd.messages.length });
    }
    // Term, vote and a joiner's vote floor must be durable before anything that depends on them.
    const termVoteDurable = rd.hardState === undefined || (rd.hardState.term === this.durable.term && rd.hardState.vote === this.durable.vote && (rd.hardState.voteFloor ?? 0) === this.durable.voteFloor);
    // A hard state that only moves the commit index needs no synced write of its own (as etcd's
    // MustSync): the commit index is volatile in Raft and is re-learned from the leader. It
    // rides along with the next write that has to happen anyway (or the one at shutdown).
    // Except when this Ready commits our own removal: nobody tells a removed member that again,
    // so the commit index that proves it must survive a kill -9 (one write per removal).
    const deferrable = rd.hardState !== undefined && termVoteDurable && rd.entries.length === 0 && rd.snapshot === undefined;
    // Only scanned when it can matter (a Ready with entries writes its hard state anyway).
    const ownRemoval = (deferrable || (rd.hardState === undefined && this.deferredHardState !== null)) && this.commitsOwnRemoval(rd.committedEntries);
    if (deferrable && !ownRemoval) {
      this.deferredHardState = rd.hardState;
    }
    const hardStateToWrite = rd.hardState !== undefined && this.deferredHardState !== rd.hardState ? rd.hardState : ownRemoval ? (this.deferredHardState ?? undefined) : undefined;
    const needsPersist = hardStateToWrite !== undefined || rd.entries.length > 0 || rd.snapshot !== undefined;
    // A leader whose term and vote are already durable may send its Appends while it writes its
    // own copy (Raft thesis §10.2.1, as etcd does): it counts itself only after advance(), and
    // messages never depend on this Ready's entries being durable here. Not while storage fails.
    const sendEarly = this.softState.role === 'leader' && termVoteDurable && rd.snapshot === undefined && this.writeBlocked === null;
    if (sendEarly) for (const m of rd.messages) this.send(m);
    // Committed entries already durable here need not wait for this Ready's write (a commit
    // index is safe to apply before it is recorded): answer their clients now.
    let applyFrom = 0;
    if (rd.snapshot === undefined && rd.committedEntries.length > 0) {
      const firstNew = rd.entries[0]?.index ?? Infinity;
      const durableUpTo = Math.min(this.durable.lastIndex, firstNew - 1);
      while (applyFrom < rd.committedEntries.length && (rd.committedEntries[applyFrom]?.index ?? Infinity) <= durableUpTo) applyFrom++;
      if (applyFrom > 0) this.apply(rd.committedEntries.slice(0, applyFrom));
    }
    // 1. persist: one synced batch; nothing below may happen before it is durable.
    this.lastPersistMs = 0;
    if (needsPersist) {
      const batch: { -readonly [K in keyof PersistBatch]: PersistBatch[K] } = { entries: rd.entries };
      const hs = hardStateToWrite ?? this.deferredHardState;
      if (hs) batch.hardState = hs;
      if (rd.snapshot) {
        const data = this.stashedSnapshots.get(snapshotKey(rd.snapshot));
        if (!data) throw new RaftInvariantError(`the core asked to install snapshot ${snapshotKey(rd.snapshot)} that was never received`);
        batch.snapshot = { meta: rd.snapshot, data };
      }
      const tp = performance.now();
      this.writingAsLeader = sendEarly;
      if (sendEarly && this.o.node.hasReady()) this.notify();
      let ok: boolean;
      if (this.tracingStages()) this.stage('persist-start', { entries: rd.entries.length, hard: batch.hardState !== undefined });
      try {
        // The storage thread has the batch once this returns (the call posts it synchronously).
        const persisting = tracingEnabled() ? this.tracedPersist(batch) : this.persistWithRetry(batch);
        // Then the Appends go on the wire at once, not at the end of this event-loop turn: the
        // followers' fsyncs run alongside ours, and our own write already started (the socket
        // writes to two peers took up to ~0.8 ms on the loaded test machine).
        if (sendEarly) this.o.transport.flush?.();
        ok = await persisting;
      } finally {
        this.writingAsLeader = false;
      }
      this.lastPersistMs = performance.now() - tp;
      if (this.tracingStages()) this.stage('persist-end', { ms: +this.lastPersistMs.toFixed(3) });
      if (!ok) return; // stopping: nothing after a failed persist may be sent or applied
      this.noteDurable(rd);
    }
    // 2. send (a leader that sent early and wrote nothing has not flushed yet)
    if (sendEarly && !needsPersist) this.o.transport.flush?.();
    if (!sendEarly) {
      for (const m of rd.messages) this.send(m);
      // A follower's ack leaves before it applies: the leader's commit waits on it.
      this.o.transport.flush?.();
    }
    // 3. install snapshot, apply, answer reads
    if (rd.snapshot) this.installSnapshot(rd.snapshot);
    if (applyFrom < rd.committedEntries.length) this.apply(applyFrom === 0 ? rd.committedEntries : rd.committedEntries.slice(applyFrom));
    if (rd.committedEntries.length > 0 || rd.snapshot) this.o.metrics.backendCommitSeconds.observe((performance.now() - t0 - this.lastPersistMs) / 1000);
    for (const rs of rd.readStates) this.reads.readState(rs.requestId, rs.index);
    this.reads.applied(this.appliedIndex);
    // 4. advance
    this.o.node.advance(rd);
    this.updateIndexMetrics(rd);
    if (this.log.isLevelEnabled('trace')) {
      this.log.trace({ types: rd.messages.map((m) => `${m.type}:${m.to}:${m.entries.length}`).join(' '), early: sendEarly, appliedEarly: applyFrom, persistMs: +this.lastPersistMs.toFixed(2), entries: rd.entries.length, committed: rd.committedEntries.length, messages: rd.messages.length, reads: rd.readStates.length, hard: rd.hardState !== undefined, totalMs: +(performance.now() - t0).toFixed(2) }, 'ready handled');
    }
  }

  /** Records what the last successful persist made durable. */
  private noteDurable(rd: Ready): void {
    this.deferredHardState = null;
    if (rd.hardState) this.durable = { ...this.durable, term: rd.hardState.term, vote: rd.hardState.vote, voteFloor: rd.hardState.voteFloor ?? 0 };
    if (rd.snapshot) this.durable = { ...this.durable, lastIndex: rd.snapshot.index };
    const last = rd.entries[rd.entries.length - 1];
    // Entries replace the stored log from their first index on: the last one is the new end.
    if (last) this.durable = { ...this.durable, lastIndex: last.index };
  }

  /** Applies committed entries (inside an apply span when tracing). */
  private apply(entries: readonly Entry[]): void {
    if (this.tracingStages()) this.stage('apply', { first: entries[0]?.index, last: entries[entries.length - 1]?.index });
    if (tracingEnabled()) {
      const first = entries[0]?.index ?? 0;
      const last = entries[entries.length - 1]?.index ?? 0;
      context.with(extractContext(this.entryTraces.forRange(first, last)), () => withChild(SPAN.apply, () => this.applyEntries(entries)));
      this.entryTraces.forget(this.appliedIndex);
    } else {
      this.applyEntries(entries);
    }
  }

  /** persistWithRetry inside a span in the trace of the batch's first traced entry. */
  private tracedPersist(batch: PersistBatch): Promise<boolean> {
    const first = batch.entries[0]?.index ?? 0;
    const last = batch.entries[batch.entries.length - 1]?.index ?? 0;
    const name = this.softState.role === 'leader' ? SPAN.persist : SPAN.replicate;
    return context.with(extractContext(this.entryTraces.forRange(first, last)), () => withChild(name, () => this.persistWithRetry(batch)));
  }

  /** Persists `batch`, retrying with backoff while storage fails. False only when stopping. */
  private async persistWithRetry(batch: PersistBatch): Promise<boolean> {
    let backoffMs: number = LIMITS.persistRetryMinMs;
    for (;;) {
      const t0 = performance.now();
      try {
        await this.o.storage.persist(batch);
        this.o.metrics.walFsyncSeconds.observe((performance.now() - t0) / 1000);
        if (this.writeBlocked) {
          this.log.warn('storage writes succeed again; accepting writes');
          this.writeBlocked = null;
        }
        return true;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        const noSpace = code === 'NoSpace';
        if (!this.writeBlocked) {
          this.log.error({ err, noSpace }, 'storage persist failed; refusing writes and retrying');
          this.writeBlocked = noSpace
            ? new MemberError('NoSpace', 'the member cannot persist: no space left on its data volume')
            : new MemberError('NoSpace', `the member cannot persist: ${err instanceof Error ? err.message : String(err)}`);
          const first = batch.entries[0]?.index;
          const last = batch.entries[batch.entries.length - 1]?.index;
          if (first !== undefined && last !== undefined) {
            const n = this.proposals.failRange(first, last, new MemberError('NoSpace', 'the write could not be persisted (storage failing); its outcome is unknown, retry with the same Idempotency-Key'));
            if (n > 0) this.o.metrics.proposalsFailed.inc({ reason: 'storage' }, n);
          }
        }
        if (this.loopStopping) return false;
        await sleep(backoffMs);
        backoffMs = Math.min(LIMITS.persistRetryMaxMs, backoffMs * 2);
      }
    }
  }

  private send(m: Message): void {
    if (this.tracingStages() && m.type !== MessageType.Heartbeat && m.type !== MessageType.HeartbeatResp) {
      this.stage('send', { type: m.type, to: m.to, n: m.entries.length, index: m.index, commit: m.commit });
    }
    if (m.type === MessageType.Snapshot) {
      const snap = this.lastSnapshot;
      if (!m.snapshot || !snap || snap.meta.index !== m.snapshot.index || snap.meta.term !== m.snapshot.term) {
        this.log.warn({ to: m.to, want: m.snapshot?.index, have: snap?.meta.index }, 'no stored snapshot matches the one the core wants to send');
        this.guard(() => this.o.node.reportSnapshot(m.to, false));
        return;
      }
      this.o.transport.send({ ...m, snapshotData: snap.data });
      this.snapshotSentAtTick.set(m.to, this.ticks);
      this.o.metrics.snapshotSentTotal.inc();
      this.log.info({ to: m.to, index: snap.meta.index, bytes: snap.data.length }, 'snapshot sent');
      return;
    }
    if (tracingEnabled() && m.type === MessageType.Append && m.entries.length > 0) {
      const first = m.entries[0]?.index ?? 0;
      const tp = this.entryTraces.forRange(first, first + m.entries.length - 1);
      if (tp !== undefined) {
        this.o.transport.send({ ...m, traceParent: tp });
        return;
      }
    }
    this.o.transport.send(m);
  }

  private installSnapshot(meta: SnapshotMeta): void {
    const t0 = performance.now();
    const key = snapshotKey(meta);
    const data = this.stashedSnapshots.get(key);
    if (!data) throw new RaftInvariantError(`snapshot ${key} vanished between persist and install`);
    this.stashedSnapshots.delete(key);
    const parts = decodeSnapshot(data);
    this.stateMachine.restore(parts.kvImage);
    this.book.loadJson(parts.membersJson);
    this.book.set({ name: this.name, peerAddress: this.o.config.advertisePeer, clientUrl: this.o.config.advertiseClientUrl });
    this.confState = meta.confState;
    if (this.inConfiguration(meta.confState)) this.removed = false;
    const failed = this.proposals.failRange(0, meta.index, new MemberError('ProposalDropped', 'the outcome of the write is unknown (state replaced by a snapshot); retry with the same Idempotency-Key'));
    if (failed > 0) this.o.metrics.proposalsFailed.inc({ reason: 'snapshot' }, failed);
    this.appliedIndex = meta.index;
    this.appliedTerm = meta.term;
    this.lastSnapshot = { meta, data };
    this.syncPeers();
    this.o.metrics.snapshotReceivedTotal.inc();
    this.o.metrics.snapshotInstallSeconds.observe((performance.now() - t0) / 1000);
    this.log.info({ index: meta.index, term: meta.term, bytes: data.length }, 'snapshot installed');
  }

  private applyEntries(entries: readonly Entry[]): void {
    let confMayHaveChanged = false;
    let appliedCommands = 0;
    const tap = this.o.onApplied;
    for (const e of entries) {
      if (e.index <= this.appliedIndex) continue; // already in the state (restored snapshot)
      if (e.index !== this.appliedIndex + 1) throw new RaftInvariantError(`apply gap: applied ${this.appliedIndex}, next entry ${e.index}`);
      const revisionBefore = tap !== undefined ? this.stateMachine.revision : 0;
      switch (e.type) {
        case EntryType.Normal: {
          if (isDriverEntry(e.data)) {
            this.applyDriverEntry(e);
            break;
          }
          let result: R | Error;
          try {
            result = this.stateMachine.apply(e.index, e.term, e.data);
          } catch (err) {
            // The state machine refuses commands it cannot decode with a result; a throw is a bug.
            this.log.error({ err, index: e.index }, 'state machine threw while applying an entry');
            result = err instanceof Error ? err : new Error(String(err));
          }
          this.proposals.applied(e.index, e.term, () => result);
          appliedCommands++;
          break;
        }
        case EntryType.ConfChange:
          confMayHaveChanged = true;
          this.applyConfChange(e);
          this.stateMachine.applyNoop(e.index, e.term);
          this.proposals.applied(e.index, e.term, () => undefined);
          break;
        case EntryType.Noop:
          // A new cluster's index-1 noop carries the bootstrap configuration (a joiner learns it here).
          if (e.data.length > 0) confMayHaveChanged = true;
          this.stateMachine.applyNoop(e.index, e.term);
          this.proposals.applied(e.index, e.term, () => undefined);
          break;
        default:
          throw new RaftInvariantError(`unknown entry type ${String(e.type)} at ${e.index}`);
      }
      this.appliedIndex = e.index;
      this.appliedTerm = e.term;
      if (tap !== undefined) tap(e, revisionBefore, this.stateMachine.revision);
    }
    // One counter update per batch: prom-client checks and hashes its arguments on every call.
    if (appliedCommands > 0) this.o.metrics.proposalsApplied.inc(appliedCommands);
    // A snapshot that reached the core while these entries were being written or applied
    // supersedes their configuration (chaos seed 531961 crashed asking the core for an index
    // below it): installing that snapshot, with the next Ready, sets the configuration.
    if (confMayHaveChanged && this.appliedIndex >= this.o.node.snapshotIndex()) {
      // The core's view is authoritative (it knows the bootstrap voters a joiner never saw).
      this.confState = this.o.node.confStateAt(this.appliedIndex);
      if (this.inConfiguration(this.confState)) this.removed = false;
      this.syncPeers();
    }
  }

  private applyDriverEntry(e: Entry): void {
    this.stateMachine.applyNoop(e.index, e.term);
    const d = decodeDriverEntry(e.data);
    if (d) {
      // Our own URL comes from our flags (it may have changed since an older publish).
      if (d.name !== this.name) this.book.setClientUrl(d.name, d.clientUrl);
      if (this.publishing.get(d.name) === d.clientUrl) this.publishing.delete(d.name);
      this.log.debug({ index: e.index, member: d.name, clientUrl: d.clientUrl }, 'client URL published');
    } else {
      this.log.warn({ index: e.index }, 'unknown driver entry ignored');
    }
    this.proposals.applied(e.index, e.term, () => undefined);
  }

  /** A new leader replicates its client URL so followers can redirect to it. */
  private publishSelf(): void {
    try {
      this.o.node.propose(encodePublish({ name: this.name, clientUrl: this.o.config.advertiseClientUrl }));
    } catch (err) {
      if (err instanceof RaftError) this.log.warn({ code: err.code }, 'could not publish the client URL');
      else throw err;
    }
  }

  private applyConfChange(e: Entry): void {
    const cc = this.o.node.decodeConfChange(e.data);
    const voters = new Set(this.confState.voters);
    const learners = new Set(this.confState.learners);
    const addr = decodeAddressContext(cc.context);
    switch (cc.type) {
      case 'addLearner':
        learners.add(cc.node);
        if (addr) this.book.set({ name: cc.node, peerAddress: addr.peerAddress, clientUrl: addr.clientUrl });
        break;
      case 'promote':
        learners.delete(cc.node);
        voters.add(cc.node);
        break;
      case 'remove':
        learners.delete(cc.node);
        voters.delete(cc.node);
        break;
    }
    this.confState = { voters: [...voters].sort(), learners: [...learners].sort() };
    if (cc.type === 'addLearner') this.exportPeerSeries(cc.node);
    if (cc.type === 'remove' && cc.node !== this.name) {
      this.book.delete(cc.node);
      this.o.transport.removePeer(cc.node);
    }
    this.syncPeers();
    this.log.info({ index: e.index, change: cc.type, node: cc.node, voters: this.confState.voters, learners: this.confState.learners }, 'membership change applied');
    if (cc.type === 'remove' && cc.node === this.name) {
      this.removed = true;
      this.log.warn({ index: e.index }, 'this member was removed from the cluster; it serves no client requests and is not ready (stop it, or add it again)');
    }
  }

  private commitsOwnRemoval(entries: readonly Entry[]): boolean {
    for (const e of entries) {
      if (e.type !== EntryType.ConfChange) continue;
      const cc = this.o.node.decodeConfChange(e.data);
      if (cc.type === 'remove' && cc.node === this.name) return true;
    }
    return false;
  }

  private inConfiguration(cs: ConfState): boolean {
    return cs.voters.includes(this.name) || cs.learners.includes(this.name);
  }

  isRemoved(): boolean {
    return this.removed;
  }

  /** Points the transport at every member in the configuration except ourselves. */
  /** The per-peer series of `peer` at 0 (none for this member itself). */
  private exportPeerSeries(peer: string): void {
    if (peer === this.name) return;
    const m = this.o.metrics;
    m.peerSentBytes.inc({ to: peer }, 0);
    m.peerReceivedBytes.inc({ from: peer }, 0);
    m.peerDroppedMessages.inc({ to: peer }, 0);
    m.peerRoundTripSeconds.zero({ to: peer });
  }

  private syncPeers(): void {
    const inConfig = new Set([...this.confState.voters, ...this.confState.learners]);
    for (const a of this.book.all()) {
      if (a.name === this.name || a.peerAddress === '') continue;
      // Before we know any configuration (a joining member), dial everyone we were told about.
      if (inConfig.size === 0 || inConfig.has(a.name)) this.o.transport.setPeer(a.name, a.peerAddress);
    }
  }

  private onSoftState(ss: SoftState): void {
    const prev = this.softState;
    this.softState = ss;
    if (prev.leader !== ss.leader) {
      this.o.metrics.leaderChangesSeen.inc();
      if (ss.leader !== null) {
        this.leaderHistory.push({ term: this.term, leader: ss.leader, atMs: this.now() });
        while (this.leaderHistory.length > LIMITS.maxLeaderHistory) this.leaderHistory.shift();
      }
      this.log.info({ leader: ss.leader, role: ss.role, previous: prev.leader }, 'leader changed');
      // Reads submitted to the old leader may never be answered: submit them again.
      for (const id of this.reads.unansweredIds()) this.reads.reopen(id);
    }
    if (prev.role !== ss.role) {
      this.log.info({ role: ss.role, previous: prev.role }, 'role changed');
      this.publishing.clear();
      if (ss.role === 'leader') {
        this.publishSelf();
        this.publishPeers();
      }
    }
    this.updateRoleMetrics();
    const waiters = this.leaderWaiters;
    this.leaderWaiters = [];
    for (const w of waiters) {
      if (w.test()) w.resolve();
      else this.leaderWaiters.push(w);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Snapshots

  /**
   * A snapshot is asked for or due, and can be taken: not while the leader's newer snapshot,
   * which reached the core during the last write, waits for the Ready that installs it (a local
   * one below it could not name its configuration; snapshot after it).
   */
  private snapshotWanted(): boolean {
    return (this.snapshotRequests.length > 0 || this.snapshotDue()) && this.appliedIndex >= this.o.node.snapshotIndex();
  }

  private snapshotDue(): boolean {
    const base = this.lastSnapshot?.meta.index ?? 0;
    if (this.appliedIndex - base < this.o.config.snapshotEntries) return false;
    return this.appliedIndex - this.snapshotFailedAtIndex >= Math.ceil(this.o.config.snapshotEntries / 4);
  }

  private async takeSnapshot(): Promise<void> {
    const requests = this.snapshotRequests;
    this.snapshotRequests = [];
    const base = this.lastSnapshot?.meta.index ?? 0;
    if (this.appliedIndex === base && this.lastSnapshot) {
      for (const r of requests) r.resolve({ index: base });
      return;
    }
    if (this.appliedIndex === 0) {
      for (const r of requests) r.resolve({ index: 0 });
      return;
    }
    const t0 = performance.now();
    const meta: SnapshotMeta = { index: this.appliedIndex, term: this.appliedTerm, confState: this.o.node.confStateAt(this.appliedIndex) };
    try {
      const data = encodeSnapshot({ membersJson: this.book.toJson(), kvImage: this.stateMachine.snapshot() });
      const snap: StoredSnapshot = { meta, data };
      const encodedAt = performance.now();
      await this.o.storage.saveSnapshotAndCompact(snap);
      const coreMeta = this.o.node.compact(meta);
      if (coreMeta.index > meta.index) {
        // While this snapshot was being written, a newer one from the leader reached the core
        // (found by a 10-minute chaos run, where this used to stop the member). The newer one
        // wins everywhere: storage ignores an older compaction, the core kept its snapshot, and
        // ours must not replace the one followers are sent.
        this.log.info({ index: meta.index, newer: coreMeta.index }, 'snapshot superseded by a newer one from the leader');
        for (const r of requests) r.resolve({ index: coreMeta.index });
        return;
      }
      this.lastSnapshot = snap;
      if (coreMeta.index !== meta.index || coreMeta.term !== meta.term || !sameConf(coreMeta.confState, meta.confState)) {
        throw new RaftInvariantError(`snapshot meta disagrees with the core: driver ${JSON.stringify(meta)}, core ${JSON.stringify(coreMeta)}`);
      }
      this.o.metrics.snapshotSaveTotal.inc();
      this.o.metrics.snapshotSaveSeconds.observe((performance.now() - t0) / 1000);
      this.o.metrics.snapshotIndex.set(meta.index);
      this.log.info({ index: meta.index, term: meta.term, bytes: data.length, encodeMs: round1(encodedAt - t0), saveMs: round1(performance.now() - encodedAt) }, 'snapshot taken, log compacted');
      for (const r of requests) r.resolve({ index: meta.index });
    } catch (err) {
      if (err instanceof RaftInvariantError) throw err;
      this.log.error({ err }, 'snapshot failed');
      const e = new MemberError('NoSpace', `snapshot failed: ${err instanceof Error ? err.message : String(err)}`);
      for (const r of requests) r.reject(e);
      // Bound retries: the next automatic attempt waits for another quarter of --snapshot-entries.
      this.snapshotFailedAtIndex = this.appliedIndex;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Metrics

  private updateRoleMetrics(): void {
    const m = this.o.metrics;
    const role = this.role();
    m.hasLeader.set(this.softState.leader !== null ? 1 : 0);
    m.isLeader.set(role === 'leader' ? 1 : 0);
    m.isLearner.set(role === 'learner' ? 1 : 0);
    for (const r of ROLES) m.role.set({ role: r }, r === role ? 1 : 0);
  }

  private updateIndexMetrics(rd: Ready): void {
    const m = this.o.metrics;
    m.term.set(this.term);
    m.commitIndex.set(this.commitIndex);
    m.appliedIndex.set(this.appliedIndex);
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry) m.lastIndex.set(lastEntry.index);
    m.proposalsPending.set(this.proposals.size);
    if (rd.committedEntries.length > 0) m.proposalsCommitted.inc(rd.committedEntries.length);
  }

  private sampleProgress(): void {
    if (this.softState.role !== 'leader') {
      this.snapshotSentAtTick.clear();
      return;
    }
    const st = this.o.node.status();
    for (const [id, p] of st.progress) {
      if (id === this.name) continue;
      this.o.metrics.followerLagEntries.set({ follower: id }, Math.max(0, st.lastIndex - p.match));
      // A snapshot lost on the way (connection cut mid-stream) would leave the follower in
      // snapshot state forever: give up on it after a bound so the core sends a fresh one.
      const sentAt = this.snapshotSentAtTick.get(id);
      if (p.state !== 'snapshot') this.snapshotSentAtTick.delete(id);
      else if (sentAt !== undefined && this.ticks - sentAt > this.snapshotAckTicks) {
        this.snapshotSentAtTick.delete(id);
        this.log.warn({ to: id }, 'snapshot not acknowledged in time; will send again');
        this.guard(() => this.o.node.reportSnapshot(id, false));
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // MemberService

  private role(): MemberRole {
    if (this.confState.learners.includes(this.name)) return 'learner';
    const r = this.softState.role;
    return r === 'precandidate' ? 'candidate' : r;
  }

  private leaderAddress(name: string): { name: string; clientUrl: string } | null {
    const a = this.book.get(name);
    return a && a.clientUrl !== '' ? { name, clientUrl: a.clientUrl } : null;
  }

  private notLeaderError(): MemberError {
    const l = this.softState.leader;
    if (l === null) return new MemberError('NoLeader', 'no leader known; retry shortly');
    const addr = this.leaderAddress(l);
    if (!addr) return new MemberError('NoLeader', `the leader (${l}) has not published its client URL yet; retry shortly`);
    return new MemberError('NotLeader', `not the leader; the leader is ${l}`, addr);
  }

  private checkWritable(): void {
    if (this.stopping) throw new MemberError('ShuttingDown', 'the member is shutting down');
    if (this.writeBlocked) throw this.writeBlocked;
    if (this.softState.role !== 'leader') throw this.notLeaderError();
  }

  proposeCommand(command: Uint8Array): Promise<R | undefined> {
    return this.proposeOnce(command).catch((err: unknown) => {
      if (!(err instanceof TransferUnderWay)) throw err;
      return this.afterTransfer(command);
    });
  }

  /**
   * A write that arrives while leadership is being handed off waits for the hand-off (bounded by
   * the request timeout) instead of failing: then it is proposed here if this member still leads
   * (the transfer was abandoned), or redirected (307) to the new leader. Clients see a slower
   * answer, not a 503 (the core refuses proposals during a transfer, as etcd-raft drops them).
   */
  private async afterTransfer(command: Uint8Array): Promise<R | undefined> {
    const deadline = this.now() + this.o.config.requestTimeoutMs;
    while (this.now() < deadline && !this.stopping) {
      await sleep(this.o.config.heartbeatIntervalMs);
      if (this.softState.role !== 'leader') throw this.notLeaderError();
      if (this.o.node.status().leadTransferee === null) {
        try {
          return await this.proposeOnce(command);
        } catch (err) {
          if (!(err instanceof TransferUnderWay)) throw err;
        }
      }
    }
    throw new MemberError('Timeout', 'a leadership transfer did not finish within the request timeout');
  }

  private proposeOnce(command: Uint8Array): Promise<R | undefined> {
    try {
      this.checkWritable();
      if (command.length > this.o.config.maxRequestBytes + 64 * 1024) throw new MemberError('TooLarge', 'command larger than the request bound');
      this.proposals.checkRoom(command.length);
    } catch (err) {
      if (err instanceof MemberError) this.o.metrics.proposalsFailed.inc({ reason: err.code });
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    let pos: ProposalPosition;
    try {
      if (tracingEnabled()) {
        pos = withChild(SPAN.propose, () => this.o.node.propose(command));
        this.entryTraces.remember(pos.index, injectTraceParent());
      } else {
        pos = this.o.node.propose(command);
      }
    } catch (err) {
      if (err instanceof RaftError && err.code === 'TransferInProgress') return Promise.reject(new TransferUnderWay());
      if (err instanceof RaftError) {
        this.o.metrics.proposalsFailed.inc({ reason: err.code });
        return Promise.reject(fromRaftError(err, (n) => this.leaderAddress(n)));
      }
      throw err;
    }
    const p = this.proposals.add(pos.index, pos.term, command.length, this.now() + this.o.config.requestTimeoutMs);
    if (this.tracingStages()) this.stage('propose', { index: pos.index });
    this.notify();
    return p;
  }

  waitLinearizable(): Promise<void> {
    if (this.o.plantedBug === 'stale-read') return Promise.resolve();
    if (this.stopped) return Promise.reject(new MemberError('ShuttingDown', 'the member is shutting down'));
    if (this.softState.leader === null) return Promise.reject(new MemberError('NoLeader', 'no leader known; retry shortly'));
    let p: Promise<void>;
    try {
      p = this.reads.add(this.now() + this.o.config.requestTimeoutMs);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.notify();
    return p;
  }

  status(): MemberStatus {
    const st = this.o.node.status();
    const progress: Record<string, { match: number; state: string }> = {};
    for (const [id, p] of st.progress) progress[id] = { match: p.match, state: p.state };
    const base: MemberStatus = {
      name: this.name,
      role: this.role(),
      term: st.term,
      leader: this.leader(),
      commitIndex: st.commit,
      appliedIndex: this.appliedIndex,
      lastIndex: st.lastIndex,
      snapshotIndex: this.lastSnapshot?.meta.index ?? 0,
      members: this.members(),
      revision: this.stateMachine.revision,
      removed: this.removed,
      leaderHistory: [...this.leaderHistory],
      ...(this.o.backupShippingStatus !== undefined ? { backupShipping: this.o.backupShippingStatus() } : {}),
    };
    return st.role === 'leader' ? { ...base, progress } : base;
  }

  /** The members of the applied configuration with their addresses. */
  members(): MemberInfo[] {
    const out: MemberInfo[] = [];
    const add = (name: string, voter: boolean): void => {
      const a = this.book.get(name);
      out.push({ name, peerUrl: a?.peerAddress ?? '', clientUrl: a?.clientUrl ?? '', voter });
    };
    for (const v of this.confState.voters) add(v, true);
    for (const l of this.confState.learners) add(l, false);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  leader(): { readonly name: string; readonly clientUrl: string } | null {
    const l = this.softState.leader;
    if (l === null) return null;
    return { name: l, clientUrl: this.book.get(l)?.clientUrl ?? '' };
  }

  isLeader(): boolean {
    return this.softState.role === 'leader';
  }

  isReady(): boolean {
    return this.softState.leader !== null && this.appliedIndex >= this.commitIndex && !this.stopping && !this.removed;
  }

  private async proposeChange(change: ConfChange): Promise<void> {
    // A leader elected a moment ago refuses changes until its first entry commits (the core
    // says ConfChangeInProgress without a pending change): that is not a concurrent change, so
    // wait for it (bounded) instead of answering 409.
    const deadline = this.now() + Math.min(this.o.config.requestTimeoutMs, this.o.config.electionTimeoutMs * 2);
    let pos: ProposalPosition | null = null;
    while (pos === null) {
      this.checkWritable();
      try {
        pos = this.o.node.proposeConfChange(change);
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
        const newLeaderSettling = err.code === 'ConfChangeInProgress' && !this.o.node.status().confChangePending;
        if (!newLeaderSettling || this.now() >= deadline) throw fromRaftError(err, (n) => this.leaderAddress(n));
        await sleep(this.o.config.heartbeatIntervalMs);
      }
    }
    const p = this.proposals.add(pos.index, pos.term, change.context.length, this.now() + this.o.config.requestTimeoutMs);
    this.notify();
    await p;
  }

  async addLearner(member: { readonly name: string; readonly peerUrl: string; readonly clientUrl: string }): Promise<void> {
    const peerAddress = member.peerUrl.replace(/^https?:\/\//, '').replace(/\/$/, '');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(member.name)) throw new MemberError('InvalidRequest', 'bad member name');
    if (!/^[^\s/:]+:\d{1,5}$/.test(peerAddress)) throw new MemberError('InvalidRequest', `peerUrl must be host:port, got '${member.peerUrl}'`);
    if (member.clientUrl !== '' && !/^https?:\/\/[^\s/]+:\d{1,5}\/?$/.test(member.clientUrl)) throw new MemberError('InvalidRequest', `clientUrl must be http(s)://host:port, got '${member.clientUrl}'`);
    if (this.confState.voters.length + this.confState.learners.length >= LIMITS.maxMembers) throw new MemberError('Conflict', `at most ${LIMITS.maxMembers} members`);
    this.checkWritable();
    // The initial voters live only in the bootstrap configuration (index 0), never in a log
    // entry: a joiner must start from a snapshot, so make sure the log no longer begins at 1.
    if ((this.lastSnapshot?.meta.index ?? 0) === 0) await this.snapshotNow();
    const context = encodeAddressContext({ peerAddress, clientUrl: member.clientUrl.replace(/\/$/, '') });
    // Dial the new member at once so the leader can start replicating when the change applies.
    this.book.set({ name: member.name, peerAddress, clientUrl: member.clientUrl.replace(/\/$/, '') });
    await this.proposeChange({ type: 'addLearner', node: member.name, context });
  }

  async promote(name: string): Promise<void> {
    await this.proposeChange({ type: 'promote', node: name, context: new Uint8Array(0) });
  }

  async removeMember(name: string): Promise<void> {
    if (name === this.name && this.isLeader()) {
      // A leader removing itself hands off first; the client is redirected to the new leader.
      const others = this.confState.voters.filter((v) => v !== this.name);
      if (others.length === 0) throw new MemberError('Conflict', 'cannot remove the last voter');
      await this.handOff();
      throw this.notLeaderError();
    }
    await this.proposeChange({ type: 'remove', node: name, context: new Uint8Array(0) });
  }

  async transferLeadership(to?: string): Promise<{ readonly leader: string }> {
    if (this.stopping) throw new MemberError('ShuttingDown', 'the member is shutting down');
    return this.handOff(to);
  }

  private async handOff(to?: string): Promise<{ readonly leader: string }> {
    if (!this.isLeader()) throw this.notLeaderError();
    let target = to;
    if (target === undefined) {
      const st = this.o.node.status();
      let best: { id: string; match: number } | null = null;
      for (const v of this.confState.voters) {
        if (v === this.name) continue;
        const p = st.progress.get(v);
        if (p && p.recentActive && (!best || p.match > best.match)) best = { id: v, match: p.match };
      }
      if (!best) throw new MemberError('NoLeader', 'no caught-up voter to hand leadership to');
      target = best.id;
    } else if (target === this.name) {
      return { leader: this.name };
    } else if (!this.confState.voters.includes(target)) {
      throw new MemberError('UnknownMember', `'${target}' is not a voter`);
    }
    const wanted = target;
    const waitMs = Math.min(this.o.config.requestTimeoutMs, this.o.config.electionTimeoutMs * LIMITS.transferWaitElectionTimeouts);
    const done = this.waitForLeader((l) => l !== null && l !== this.name, waitMs);
    try {
      this.o.node.transferLeadership(wanted);
    } catch (err) {
      if (err instanceof RaftError && err.code === 'TransferInProgress') throw new MemberError('Conflict', `a leadership transfer is already under way (${err.message})`);
      if (err instanceof RaftError) throw fromRaftError(err, (n) => this.leaderAddress(n));
      throw err;
    }
    this.notify();
    const ok = await done;
    const leader = this.softState.leader;
    if (!ok || leader === null || leader === this.name) throw new MemberError('Timeout', `leadership did not move to ${wanted} within ${waitMs} ms`);
    return { leader };
  }

  /** Resolves true once `test(leader)` holds, false after `timeoutMs`. */
  private waitForLeader(test: (leader: string | null) => boolean, timeoutMs: number): Promise<boolean> {
    if (test(this.softState.leader) && this.softState.leader !== this.name) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const w = {
        test: () => test(this.softState.leader),
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.leaderWaiters = this.leaderWaiters.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs);
      this.leaderWaiters.push(w);
    });
  }

  snapshotNow(): Promise<{ readonly index: number }> {
    if (this.stopping) return Promise.reject(new MemberError('ShuttingDown', 'the member is shutting down'));
    return new Promise((resolve, reject) => {
      this.snapshotRequests.push({ resolve, reject });
      this.notify();
    });
  }

  setPeerFaults(faults: PeerFaults): void {
    if (!this.o.config.enableFaultInjection) throw new MemberError('FaultInjectionDisabled', 'fault injection is off (start with --enable-fault-injection)');
    const t = this.o.transport;
    if (!t.setFaults) throw new MemberError('FaultInjectionDisabled', 'this transport cannot inject faults');
    const setFaults = t.setFaults.bind(t);
    let peers: string[];
    if (faults.dropPeerTraffic) peers = this.book.all().map((a) => a.name).filter((n) => n !== this.name);
    else peers = [...(faults.dropPeers ?? [])];
    setFaults({ dropOutgoingTo: peers, dropIncomingFrom: peers });
    if (this.faultTimer) clearTimeout(this.faultTimer);
    this.faultTimer = null;
    this.log.warn({ peers, durationMs: faults.durationMs }, 'peer faults set');
    if (peers.length > 0) {
      const durationMs = Math.min(faults.durationMs ?? LIMITS.defaultFaultDurationMs, LIMITS.maxFaultDurationMs);
      this.faultTimer = setTimeout(() => {
        this.faultTimer = null;
        setFaults({ dropOutgoingTo: [], dropIncomingFrom: [] });
        this.log.warn('peer faults lifted (duration elapsed)');
      }, durationMs);
      this.faultTimer.unref();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Stops the member: refuses new writes, hands off leadership when leader (bounded), lets the
   * in-flight persist finish, fails what is still pending with ShuttingDown, closes transport
   * and storage. Idempotent. The HTTP server is closed by the caller (main.ts).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ leader: this.isLeader() }, 'stopping');
    if (this.isLeader() && this.confState.voters.length > 1) {
      try {
        const r = await Promise.race([this.handOff(), sleep(LIMITS.shutdownTransferWaitMs).then(() => null)]);
        this.log.info({ to: r?.leader ?? null }, r ? 'leadership handed off' : 'leadership hand-off timed out');
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'leadership hand-off failed');
      }
    }
    // Writes proposed before the hand-off may still commit under the new leader; give them a
    // moment to resolve with their real outcome instead of ShuttingDown.
    const drainUntil = this.now() + LIMITS.shutdownDrainWaitMs;
    while (this.proposals.size > 0 && this.now() < drainUntil) await sleep(20);
    this.loopStopping = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    if (this.faultTimer) clearTimeout(this.faultTimer);
    this.notify();
    await Promise.race([this.loopDone, sleep(LIMITS.shutdownCloseWaitMs)]);
    this.stopped = true;
    const deferred = this.deferredHardState;
    if (deferred) {
      // Record the latest commit index so a restart applies everything at once (best effort).
      await Promise.race([this.o.storage.persist({ hardState: deferred, entries: [] }).catch(() => undefined), sleep(LIMITS.persistRetryMaxMs)]);
    }
    const err = new MemberError('ShuttingDown', 'the member is shutting down');
    this.proposals.failAll(err);
    this.reads.failAll(err);
    for (const r of this.snapshotRequests) r.reject(err);
    this.snapshotRequests = [];
    for (const w of this.leaderWaiters) w.resolve();
    this.leaderWaiters = [];
    await this.o.transport.close().catch((e: unknown) => this.log.warn({ err: e }, 'transport close failed'));
    await this.o.storage.close().catch((e: unknown) => this.log.warn({ err: e }, 'storage close failed'));
    this.log.info('stopped');
  }
}

/** Milliseconds to one decimal, for log lines. */
function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}
