// The deterministic cluster simulator (TigerBeetle VOPR style). One seeded Prng decides every
// fault, latency, client request and each member's election jitter, so a seed replays a run
// exactly. Members are the real RawNode with an in-memory durable store and KV state machine.
// Two phases: safety (faults on; invariants checked as every Ready is processed and after every
// tick; the client history checked for linearizability at the end), then liveness (faults off:
// a leader must emerge and every live member must apply every committed entry in bounded ticks).
import { APPEND_CONTEXT_COMMIT_ONLY, RaftError, RaftInvariantError, RawNode, EntryType, MessageType, decodeConfChange } from '../../daemon/src/raft/index.js';
import type { BrokenVariants, ConfChange, Entry, HardState, Message, NodeId, RaftConfig, Ready, SnapshotMeta } from '../../daemon/src/raft/index.js';
import { checkLinearizable, describeOp } from '../lib/linearizability.js';
import type { RegisterOp } from '../lib/linearizability.js';
import { PropertyViolation, SafetyChecker } from './invariants.js';
import type { LogView, Property } from './invariants.js';
import { KvStore, decodeCommand, digest, encodeCommand } from './kv.js';
import { Prng } from './prng.js';

/** How one run is set up. Everything not given is drawn from the seed. */
export interface SimOptions {
  readonly seed: number;
  /** Cluster size at start (3, 5 or 7); drawn from the seed when absent. */
  readonly nodes?: number;
  /** Ticks of the safety phase (faults on). */
  readonly safetyTicks?: number;
  /** Bound on ticks of the liveness phase (faults off). */
  readonly livenessTicks?: number;
  readonly brokenVariants?: BrokenVariants;
  /**
   * Leaders sometimes write a Ready while they keep replicating, as the daemon's do (default
   * true). Its randomness is a separate stream, so a run that never writes asynchronously replays
   * exactly as before the feature existed (seeds pinned by regression tests keep their meaning).
   */
  readonly asyncLeaderWrites?: boolean;
  /** RaftConfig.notifyRemovedMembers (default true); false replays seeds recorded before it existed. */
  readonly notifyRemovedMembers?: boolean;
  /**
   * The rejoin nemesis (default true): a member is cut off, removed, shut down and re-added with
   * a wiped disk while still cut off, repeatedly, with leader transfers in between. Its randomness
   * is a separate stream, so `false` replays seeds recorded before it existed.
   */
  readonly rejoinCycles?: boolean;
  /**
   * Clients resend a write that timed out, with its sequence number, to another member (default
   * true), and the exactly-once invariant checks that no command takes effect twice. Separate
   * stream; `false` replays seeds recorded before it existed.
   */
  readonly clientResends?: boolean;
  /**
   * Followers answer every accepted Append, also the commit-only ones a leader marks as needing
   * no answer (as members that predate the mark do; default false). The changed message traffic
   * moves every schedule: `true` replays seeds recorded before the mark existed.
   */
  readonly commitOnlyAppendsAnswered?: boolean;
  /** Known-bad: the state machine keeps no sessions, so a resent write can apply twice. */
  readonly brokenNoDedup?: boolean;
  /** Receives one readable line per event when set (replay with --trace). */
  readonly trace?: (line: string) => void;
}

/** The outcome of one run. */
export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly property?: Property;
  readonly detail?: string;
  /** Simulated ticks (both phases). */
  readonly ticks: number;
  /** Simulated steps: member ticks, message deliveries and Ready cycles. */
  readonly steps: number;
  readonly summary: string;
  readonly stats: SimStats;
}

export interface SimStats {
  nodes: number;
  elections: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  /** Leader Readys written while the leader kept replicating, and the work it did meanwhile. */
  asyncLeaderWrites: number;
  leaderProgress: number;
  rejoins: number;
  messages: number;
  dropped: number;
  clientOps: number;
  clientOk: number;
  clientInfo: number;
  maxCommit: number;
  /** The linearizability verdict ('' when the run failed before the check). */
  linearizability: '' | 'ok' | 'unknown';
}

export const DEFAULT_SAFETY_TICKS = 2500;
export const DEFAULT_LIVENESS_TICKS = 600;
const ELECTION_TICKS = 10;
const MAX_LATENCY_TICKS = 40;
const RING = 64;
const KEYS = ['x', 'y', 'z'];
const SPARE_NODES = 2;
/** Prng stream of the asynchronous leader writes. */
const ASYNC_WRITE_STREAM = 7;
/** Prng stream of the rejoin nemesis. */
const REJOIN_STREAM = 8;
/** Prng stream of client resends. */
const RESEND_STREAM = 9;
/** A client resends one write at most this many times, then gives up (indeterminate). */
const MAX_RESENDS = 3;
/** A rejoin step that has not happened within this many ticks is abandoned (the cut heals). */
const REJOIN_STEP_TIMEOUT_TICKS = 300;

/** Per-seed fault intensities ("swarm testing": each run stresses a different mix). */
interface FaultProfile {
  dropP: number;
  dupP: number;
  minLatency: number;
  maxLatency: number;
  longDelayP: number;
  partitionP: number;
  crashP: number;
  /** Of crashes, the share aimed at the current leader. */
  crashLeaderP: number;
  /** Chance that a newly elected leader crashes a few ticks later (partially replicated entries: Figure 8). */
  crashNewLeaderP: number;
  /** Chance that a leader crashes in the Ready where its commit advances but lags its log (Figure 8). */
  crashPartialP: number;
  /** Chance a leader's Ready is written asynchronously (sent first, durable 1-4 ticks later). */
  asyncLeaderWriteP: number;
  /** Chance that a newly elected leader is cut off from everyone a few ticks later (its new entries stay stray). */
  isolateNewLeaderP: number;
  clockP: number;
  memberP: number;
  transferP: number;
  campaignP: number;
  /** Chance per tick to start a rejoin cycle (see SimOptions.rejoinCycles). */
  rejoinP: number;
}

/**
 * One rejoin cycle of the nemesis: `target` is cut off from everyone, removed, shut down, re-added
 * with a wiped disk (its term and vote kept or lost) while still cut off, then healed; `rounds`
 * times, with a leadership transfer between rounds.
 */
interface RejoinCycle {
  readonly target: NodeId;
  stage: 'remove' | 'readd' | 'cut-off' | 'pause';
  /** Tick the current stage gives up (remove/readd) or ends (cut-off/pause). */
  until: number;
  /** The removal is proposed from this tick on: a voter cut off that long has campaigned its term up. */
  removeFrom: number;
  /** The new incarnation is running (its addLearner is proposed again until it commits, as an operator retries). */
  readded: boolean;
  rounds: number;
}

class DurableStore implements LogView {
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  snapshot: SnapshotMeta;
  snapshotData: Uint8Array = new Uint8Array(0);
  entries: Entry[] = [];
  digests: number[] = [];

  constructor(snapshot: SnapshotMeta) {
    this.snapshot = snapshot;
  }

  get snapshotIndex(): number {
    return this.snapshot.index;
  }

  get snapshotTerm(): number {
    return this.snapshot.term;
  }

  termAt(index: number): number | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    return this.entries[index - this.snapshot.index - 1]?.term;
  }

  digestAt(index: number): number | undefined {
    return this.digests[index - this.snapshot.index - 1];
  }

  lastIndex(): number {
    return this.snapshot.index + this.entries.length;
  }

  entry(index: number): Entry | undefined {
    return this.entries[index - this.snapshot.index - 1];
  }

  /** Writes entries replacing any stored from entries[0].index on; returns the predecessor's term. */
  writeEntries(entries: readonly Entry[]): number | undefined {
    const first = (entries[0] as Entry).index;
    const keep = first - this.snapshot.index - 1;
    if (keep < 0) throw new PropertyViolation('sim-error', `persisting entry ${first} at or below the snapshot ${this.snapshot.index}`);
    if (keep > this.entries.length) throw new PropertyViolation('sim-error', `persisting entry ${first} leaves a gap after ${this.lastIndex()}`);
    this.entries.length = keep;
    this.digests.length = keep;
    const prevTerm = this.termAt(first - 1);
    for (const e of entries) {
      this.entries.push(e);
      this.digests.push(entryDigest(e));
    }
    return prevTerm;
  }

  compact(meta: SnapshotMeta, data: Uint8Array): void {
    const drop = meta.index - this.snapshot.index;
    if (drop <= 0) return;
    this.entries = this.entries.slice(drop);
    this.digests = this.digests.slice(drop);
    this.snapshot = meta;
    this.snapshotData = data;
  }
}

function entryDigest(e: Entry): number {
  return (digest(e.data) ^ Math.imul(e.type + 1, 0x9e3779b1)) >>> 0;
}

/** A client operation in flight or done; becomes a RegisterOp in the history. */
interface ClientOp {
  readonly process: number;
  readonly key: string;
  readonly f: 'read' | 'write' | 'cas';
  value: string | null;
  readonly expected: string | null;
  readonly invoke: number;
  complete: number;
  outcome: 'ok' | 'fail' | 'info' | 'pending';
  readonly seq: number;
  deadlineTick: number;
  readonly node: NodeId;
  /** Times this write was sent again after a timeout (its outcome stays unknown if it fails). */
  resends: number;
}

interface Client {
  readonly id: number;
  seq: number;
  hint: NodeId | null;
  pending: ClientOp | null;
  nextTick: number;
  /** Values this client saw per key (cas expectations). */
  readonly seen: Map<string, string | null>;
}

type CrashPhase = 'beforePersist' | 'afterPersist' | 'afterSend' | 'afterApply';
type Clock = 'normal' | 'fast' | 'slow' | 'paused';

class SimNode {
  raw: RawNode | null = null;
  kv = new KvStore();
  appliedIndex = 0;
  role: 'follower' | 'candidate' | 'precandidate' | 'leader' = 'follower';
  leader: NodeId | null = null;
  clock: Clock = 'normal';
  clockUntil = 0;
  /** When the current clock fault began (a pause is made up with the ticks missed since). */
  pausedAt = 0;
  restartAt = -1;
  stopAt = -1;
  crashAt = -1;
  /** Removed from the cluster: never restarted (a re-add makes a new incarnation). */
  decommissioned = false;
  crashPhase: CrashPhase | null = null;
  readonly proposals = new Map<number, ClientOp>();
  readonly reads = new Map<number, ClientOp>();
  readsWaiting: { index: number; op: ClientOp }[] = [];
  /** Snapshot images received with Snapshot messages, by index, until a Ready installs one. */
  readonly snapshotInbox = new Map<number, Uint8Array>();
  /**
   * A leader's Ready whose write is still in progress (as the daemon's leader writes while it
   * keeps replicating): completes at `doneAt`, or is lost if the member crashes first.
   */
  writing: { readonly rd: Ready; readonly rest: readonly Entry[]; readonly doneAt: number } | null = null;

  constructor(
    readonly id: NodeId,
    readonly incarnation: number,
    readonly store: DurableStore,
    readonly config: RaftConfig,
  ) {}

  get up(): boolean {
    return this.raw !== null;
  }

  get durableCommit(): number {
    return Math.max(this.store.hardState.commit, this.store.snapshot.index);
  }
}

/** Runs one seed; never throws for a property violation (reported in the result). */
export function runSimulation(opts: SimOptions): SimResult {
  const sim = new Simulation(opts);
  return sim.run();
}

class Simulation {
  private readonly rng: Prng;
  /** Only the asynchronous leader writes draw from this (see SimOptions.asyncLeaderWrites). */
  private readonly asyncRng: Prng;
  /** Only the rejoin nemesis draws from this (see SimOptions.rejoinCycles). */
  private readonly rejoinRng: Prng;
  private rejoin: RejoinCycle | null = null;
  /** Only client resends draw from this (see SimOptions.clientResends). */
  private readonly resendRng: Prng;
  private readonly resendP: number;
  private readonly commitOnlyAppendsAnswered: boolean;
  private readonly trace: ((line: string) => void) | undefined;
  private readonly checker = new SafetyChecker();
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly allIds: NodeId[];
  private readonly ring: Message[][] = Array.from({ length: RING }, () => []);
  private readonly cut = new Set<string>();
  private partitionUntil = -1;
  private isolateAt: { id: NodeId; at: number }[] = [];
  private readonly clients: Client[] = [];
  private readonly history: ClientOp[] = [];
  private readonly profile: FaultProfile;
  private readonly baseConfig: Omit<RaftConfig, 'id' | 'rng'>;
  /** Lease-read seeds: the only clock fault is a pause (made up with the missed ticks). */
  private readonly pausesOnly: boolean;
  private readonly snapshotEvery: number;
  private readonly clientTimeoutTicks: number;
  private readonly handledConfIndexes = new Set<number>();
  private now = 0;
  private steps = 0;
  private opClock = 0;
  private readId = 0;
  private faultsOn = true;
  private clientsOn = true;
  private incarnations = 0;
  private readonly stats: SimStats;

  constructor(private readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    this.asyncRng = new Prng(opts.seed, ASYNC_WRITE_STREAM);
    this.rejoinRng = new Prng(opts.seed, REJOIN_STREAM);
    this.resendRng = new Prng(opts.seed, RESEND_STREAM);
    this.commitOnlyAppendsAnswered = opts.commitOnlyAppendsAnswered === true;
    this.resendP = opts.clientResends !== false && this.resendRng.chance(0.6) ? 0.3 + this.resendRng.next() * 0.7 : 0;
    this.trace = opts.trace;
    const r = this.rng;
    const n = opts.nodes ?? r.pick([3, 3, 5, 5, 7]);
    this.allIds = Array.from({ length: n + SPARE_NODES }, (_, i) => `n${i + 1}`);
    // A "leader churn" run: leaders crash or are cut off right after election or mid-commit,
    // one entry per message, so logs diverge at the same index with different terms (the
    // paper's Figure 8 needs exactly that).
    const churn = r.chance(0.25);
    const preVote = !churn && r.chance(0.6);
    const checkQuorum = !churn && r.chance(0.6);
    // The lease assumes member clocks tick at one rate: lease-read seeds get no fast or slow
    // clocks, only pauses (a held thread, which the driver makes up with the missed ticks).
    const clockFaults = r.chance(0.6);
    const leaseRead = checkQuorum && r.chance(clockFaults ? 0.25 : 0.4);
    this.pausesOnly = leaseRead;
    this.baseConfig = {
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: r.between(1, 3),
      preVote,
      checkQuorum,
      leaseRead,
      maxInflightMsgs: churn ? 1 : r.between(1, 8),
      maxSizePerMsgBytes: churn ? 1 : r.pick([1, 64, 256, 1024, 1 << 16]),
      maxUncommittedBytes: r.pick([512, 4096, 1 << 20]),
      maxLearnerLagEntries: r.between(2, 20),
      ...(opts.brokenVariants !== undefined ? { brokenVariants: opts.brokenVariants } : {}),
      ...(opts.notifyRemovedMembers === false ? { notifyRemovedMembers: false } : {}),
    };
    this.snapshotEvery = r.between(4, 40);
    this.clientTimeoutTicks = r.between(20, 60);
    const on = (p: number): boolean => r.chance(p);
    const maxLatency = r.between(1, 8);
    this.profile = {
      dropP: on(0.7) ? r.next() * 0.15 : 0,
      dupP: on(0.5) ? r.next() * 0.05 : 0,
      minLatency: 1,
      maxLatency,
      longDelayP: on(0.5) ? r.next() * 0.02 : 0,
      partitionP: on(0.7) ? 0.005 + r.next() * 0.03 : 0,
      crashP: on(0.7) ? 0.003 + r.next() * 0.02 : 0,
      crashLeaderP: r.next(),
      crashNewLeaderP: churn || on(0.4) ? 0.1 + r.next() * 0.5 : 0,
      crashPartialP: churn || on(0.4) ? 0.05 + r.next() * 0.5 : 0,
      asyncLeaderWriteP: opts.asyncLeaderWrites !== false && this.asyncRng.chance(0.7) ? this.asyncRng.next() : 0,
      isolateNewLeaderP: churn || on(0.4) ? 0.1 + r.next() * 0.5 : 0,
      clockP: clockFaults ? 0.005 + r.next() * 0.02 : 0,
      memberP: on(0.5) ? 0.005 + r.next() * 0.02 : 0,
      transferP: on(0.4) ? 0.002 + r.next() * 0.01 : 0,
      campaignP: on(0.3) ? r.next() * 0.01 : 0,
      rejoinP: opts.rejoinCycles !== false && this.rejoinRng.chance(0.35) ? 0.002 + this.rejoinRng.next() * 0.01 : 0,
    };
    this.stats = {
      nodes: n, elections: 0, crashes: 0, partitions: 0, confChanges: 0, transfers: 0, snapshotsTaken: 0, snapshotsInstalled: 0, asyncLeaderWrites: 0, leaderProgress: 0, rejoins: 0,
      messages: 0, dropped: 0, clientOps: 0, clientOk: 0, clientInfo: 0, maxCommit: 0, linearizability: '',
    };
    const voters = this.allIds.slice(0, n);
    for (const id of voters) this.createNode(id, { voters, learners: [] }, undefined);
    const clientCount = r.between(2, 6);
    for (let i = 0; i < clientCount; i++) this.clients.push({ id: i + 1, seq: 0, hint: null, pending: null, nextTick: r.between(0, 20), seen: new Map() });
    this.log(() => `config nodes=${n} churn=${churn} preVote=${preVote} checkQuorum=${checkQuorum} leaseRead=${leaseRead} heartbeat=${this.baseConfig.heartbeatTicks} inflight=${this.baseConfig.maxInflightMsgs} msgBytes=${this.baseConfig.maxSizePerMsgBytes} snapshotEvery=${this.snapshotEvery} clients=${clientCount}`);
    this.log(() => `faults ${JSON.stringify(this.profile, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 1000) / 1000 : v))}`);
  }

  run(): SimResult {
    const safetyTicks = this.opts.safetyTicks ?? DEFAULT_SAFETY_TICKS;
    const livenessTicks = this.opts.livenessTicks ?? DEFAULT_LIVENESS_TICKS;
    try {
      for (; this.now < safetyTicks; this.now++) this.tickWorld();
      this.log(() => 'phase liveness: faults off');
      this.enterLiveness();
      // The bound grows with the backlog: a run configured for one entry per Append and one
      // Append in flight needs a round trip per entry.
      const bound = livenessTicks + 4 * this.backlog();
      const deadline = this.now + bound;
      let done = false;
      for (; this.now < deadline; this.now++) {
        this.tickWorld();
        if (this.now % 5 === 0 && this.converged()) {
          done = true;
          break;
        }
      }
      if (!done) throw new PropertyViolation('liveness', `no convergence within ${bound} ticks after faults stopped: ${this.describeState()}`);
      this.failPending();
      const lin = checkLinearizable(this.history.filter((o) => o.outcome !== 'pending').map(toRegisterOp), { maxStatesPerKey: 200_000 });
      if (lin.result === 'violation') throw new PropertyViolation('linearizability', lin.message);
      this.stats.linearizability = lin.result;
      this.log(() => `linearizability: ${lin.result} (${lin.message})`);
      return this.result(true);
    } catch (e) {
      if (e instanceof PropertyViolation) return this.result(false, e.property, e.detail);
      if (e instanceof RaftInvariantError) return this.result(false, 'core-invariant', e.message);
      const err = e as Error;
      return this.result(false, 'sim-error', `${err.message}\n${err.stack ?? ''}`);
    }
  }

  private result(ok: boolean, property?: Property, detail?: string): SimResult {
    this.stats.maxCommit = this.checker.maxCommitted;
    const s = this.stats;
    const summary = `nodes=${s.nodes} ticks=${this.now} elections=${s.elections} crashes=${s.crashes} partitions=${s.partitions} conf=${s.confChanges} rejoins=${s.rejoins} transfers=${s.transfers} snapshots=${s.snapshotsTaken}/${s.snapshotsInstalled} msgs=${s.messages} dropped=${s.dropped} ops=${s.clientOps} ok=${s.clientOk} info=${s.clientInfo} commit=${s.maxCommit} lin=${s.linearizability || '-'}`;
    const base = { seed: this.opts.seed, ok, ticks: this.now, steps: this.steps, summary, stats: s };
    if (property !== undefined) {
      this.log(() => `VIOLATION ${property}: ${detail ?? ''}`);
      return { ...base, property, detail: detail ?? '' };
    }
    return base;
  }

  private log(line: () => string): void {
    if (this.trace !== undefined) this.trace(`[t=${this.now}] ${line()}`);
  }

  // -----------------------------------------------------------------------------------------
  // The world's clock

  private tickWorld(): void {
    if (this.faultsOn) this.injectFaults();
    this.scheduled();
    const ids = [...this.nodes.keys()];
    for (const id of ids) {
      const n = this.nodes.get(id) as SimNode;
      if (n.raw === null || n.clock === 'paused') continue;
      let ticks = 1;
      if (n.clock === 'fast') ticks = 2;
      else if (n.clock === 'slow') ticks = this.rng.chance(0.5) ? 1 : 0;
      for (let i = 0; i < ticks && n.raw !== null; i++) {
        n.raw.tick();
        this.steps++;
      }
    }
    this.deliver();
    for (const id of ids) this.processReady(this.nodes.get(id) as SimNode);
    if (this.clientsOn) this.runClients();
    this.expireClientOps();
    for (const n of this.nodes.values()) {
      // The commit index is volatile in Raft: a member may apply what it knows is committed before
      // recording it (a leader writing asynchronously does), so the bound is the larger of both.
      if (n.raw !== null) this.checker.appliedWithinCommit(n.id, n.appliedIndex, Math.max(n.durableCommit, n.raw.status().commit));
    }
  }

  private deliver(): void {
    const slot = this.now % RING;
    const msgs = this.ring[slot] as Message[];
    this.ring[slot] = [];
    for (const m of msgs) {
      const to = this.nodes.get(m.to);
      if (to === undefined || to.raw === null) {
        this.stats.dropped++;
        if (m.type === MessageType.Snapshot) this.reportSnapshot(m, false);
        continue;
      }
      if (to.clock === 'paused') {
        // A paused process does not read its sockets: the message waits.
        (this.ring[(this.now + 1) % RING] as Message[]).push(m);
        continue;
      }
      if (this.cut.has(`${m.from}->${m.to}`) || this.rejoinCut(m)) {
        this.stats.dropped++;
        if (m.type === MessageType.Snapshot) this.reportSnapshot(m, false);
        continue;
      }
      if (m.type === MessageType.Snapshot && m.snapshot !== undefined && m.snapshotData !== undefined) to.snapshotInbox.set(m.snapshot.index, m.snapshotData);
      if (this.trace !== undefined && m.type !== MessageType.Heartbeat && m.type !== MessageType.HeartbeatResp) this.log(() => `deliver ${fmtMsg(m)}`);
      to.raw.step(this.commitOnlyAppendsAnswered && m.type === MessageType.Append && m.context === APPEND_CONTEXT_COMMIT_ONLY ? { ...m, context: 0 } : m);
      this.steps++;
      if (m.type === MessageType.Snapshot) this.reportSnapshot(m, true);
      // Interleave: sometimes a member handles its Ready right after one message.
      if (this.rng.chance(0.3)) this.processReady(to);
    }
  }

  private reportSnapshot(m: Message, ok: boolean): void {
    const from = this.nodes.get(m.from);
    if (from?.raw === null || from === undefined) return;
    from.raw.reportSnapshot(m.to, ok);
  }

  private send(from: SimNode, m: Message): void {
    this.stats.messages++;
    const p = this.profile;
    const faults = this.faultsOn;
    if (faults && this.rng.chance(p.dropP)) {
      this.stats.dropped++;
      if (m.type === MessageType.Snapshot && this.rng.chance(0.5)) from.raw?.reportSnapshot(m.to, false);
      else if (this.rng.chance(0.1)) from.raw?.reportUnreachable(m.to);
      return;
    }
    let msg = m;
    if (m.type === MessageType.Snapshot) {
      if (m.snapshot === undefined || m.snapshot.index !== from.store.snapshot.index) {
        throw new PropertyViolation('sim-error', `${from.id} sends snapshot ${m.snapshot?.index ?? 'none'} but holds ${from.store.snapshot.index}`);
      }
      msg = { ...m, snapshotData: from.store.snapshotData };
    }
    const copies = faults && this.rng.chance(p.dupP) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      // A healthy network (liveness phase) answers within a tick or two.
      const maxLat = faults ? p.maxLatency : Math.min(p.maxLatency, p.minLatency + 1);
      let lat = p.minLatency + this.rng.intBelow(maxLat - p.minLatency + 1);
      if (faults && this.rng.chance(p.longDelayP)) lat = this.rng.between(p.maxLatency, MAX_LATENCY_TICKS);
      (this.ring[(this.now + lat) % RING] as Message[]).push(msg);
    }
  }

  // -----------------------------------------------------------------------------------------
  // Members

  private createNode(id: NodeId, conf: { voters: NodeId[]; learners: NodeId[] }, carryHard: HardState | undefined): SimNode {
    const store = new DurableStore({ index: 0, term: 0, confState: conf });
    if (carryHard !== undefined) store.hardState = { term: carryHard.term, vote: carryHard.vote, commit: 0 };
    const config: RaftConfig = { ...this.baseConfig, id, rng: this.rng.fork() };
    const n = new SimNode(id, ++this.incarnations, store, config);
    this.nodes.set(id, n);
    this.checker.memberReset(id);
    this.start(n);
    return n;
  }

  private start(n: SimNode): void {
    const s = n.store;
    n.raw = new RawNode(n.config, { hardState: s.hardState, snapshot: s.snapshot, entries: s.entries.slice() });
    n.kv = KvStore.deserialize(s.snapshotData, this.opts.brokenNoDedup !== true);
    n.appliedIndex = s.snapshot.index;
    n.role = 'follower';
    n.leader = null;
    n.restartAt = -1;
    n.crashPhase = null;
    n.clock = 'normal';
    this.log(() => `start ${n.id}#${n.incarnation} term=${s.hardState.term} commit=${s.hardState.commit} snap=${s.snapshot.index} last=${s.lastIndex()}`);
  }

  private crash(n: SimNode, why: string): void {
    if (n.raw === null) return;
    this.stats.crashes++;
    n.raw = null;
    n.role = 'follower';
    n.leader = null;
    n.proposals.clear();
    n.reads.clear();
    n.readsWaiting = [];
    n.snapshotInbox.clear();
    n.crashPhase = null;
    n.crashAt = -1;
    n.writing = null;
    this.log(() => `crash ${n.id}#${n.incarnation} (${why})`);
  }

  private processReady(n: SimNode): void {
    const raw = n.raw;
    if (raw === null || n.clock === 'paused') return;
    if (n.writing !== null) {
      if (this.now < n.writing.doneAt) return this.leaderProgress(n, raw);
      const { rd, rest } = n.writing;
      n.writing = null;
      this.finishReady(n, raw, rd, rest);
      if (n.raw === null) return;
    }
    if (!raw.hasReady()) return;
    const rd = raw.ready();
    this.steps++;
    if (this.faultsOn && n.role === 'leader' && rd.hardState !== undefined && rd.hardState.commit > n.store.hardState.commit && n.crashPhase === null) {
      const last = Math.max(n.store.lastIndex(), rd.entries[rd.entries.length - 1]?.index ?? 0);
      if (rd.hardState.commit < last && this.rng.chance(this.profile.crashPartialP)) {
        n.crashPhase = this.rng.pick<CrashPhase>(['afterPersist', 'afterSend']);
        n.restartAt = this.now + this.rng.between(1, 40);
      }
    }
    if (n.crashPhase === 'beforePersist') return this.crash(n, 'before persisting a Ready');
    // A leader whose term and vote are durable may send first and write meanwhile (the daemon
    // does: Raft thesis §10.2.1); committed entries already durable are applied at once.
    const hs = n.store.hardState;
    const leading = rd.softState === undefined ? n.role === 'leader' : rd.softState.role === 'leader';
    const termVoteDurable = rd.hardState === undefined || (rd.hardState.term === hs.term && rd.hardState.vote === hs.vote);
    if (leading && termVoteDurable && rd.snapshot === undefined && rd.entries.length > 0 && this.asyncRng.chance(this.profile.asyncLeaderWriteP)) {
      for (const m of rd.messages) this.send(n, m);
      const durableUpTo = Math.min(n.store.lastIndex(), (rd.entries[0]?.index ?? Infinity) - 1);
      let k = 0;
      while (k < rd.committedEntries.length && (rd.committedEntries[k]?.index ?? Infinity) <= durableUpTo) k++;
      if (k > 0) this.applyReady(n, { entries: [], messages: [], committedEntries: rd.committedEntries.slice(0, k), readStates: [] });
      n.writing = { rd, rest: rd.committedEntries.slice(k), doneAt: this.now + this.asyncRng.between(1, 4) };
      this.stats.asyncLeaderWrites++;
      return;
    }
    this.persist(n, rd);
    if (n.crashPhase === 'afterPersist') return this.crash(n, 'after persisting, before sending');
    for (const m of rd.messages) this.send(n, m);
    if (n.crashPhase === 'afterSend') return this.crash(n, 'after sending, before applying');
    this.applyAndAdvance(n, raw, rd, rd.committedEntries);
  }

  /** The leader's write of `rd` completed: record it, apply what waited for it, advance. */
  private finishReady(n: SimNode, raw: RawNode, rd: Ready, rest: readonly Entry[]): void {
    this.persist(n, rd);
    if (n.crashPhase === 'afterPersist' || n.crashPhase === 'afterSend') return this.crash(n, 'after persisting, before applying');
    this.applyAndAdvance(n, raw, rd, rest);
  }

  /** The end of every Ready cycle: apply `committed` (what is left of rd's), advance, maybe snapshot. */
  private applyAndAdvance(n: SimNode, raw: RawNode, rd: Ready, committed: readonly Entry[]): void {
    this.applyReady(n, committed === rd.committedEntries ? rd : { ...rd, committedEntries: committed });
    raw.advance(rd);
    if (n.crashPhase === 'afterApply') return this.crash(n, 'after applying');
    if (n.appliedIndex - n.store.snapshot.index >= this.snapshotEvery) this.takeSnapshot(n, raw);
  }

  /** While its write is in progress, a leader sends and applies what does not depend on it. */
  private leaderProgress(n: SimNode, raw: RawNode): void {
    const lp = raw.leaderProgress();
    if (lp === null) return;
    this.steps++;
    this.stats.leaderProgress++;
    for (const m of lp.messages) this.send(n, m);
    this.applyReady(n, { entries: [], messages: [], committedEntries: lp.committedEntries, readStates: lp.readStates });
  }

  private takeSnapshot(n: SimNode, raw: RawNode): void {
    const meta = raw.compact(n.appliedIndex);
    n.store.compact(meta, n.kv.serialize());
    this.stats.snapshotsTaken++;
    this.log(() => `${n.id} snapshot at ${meta.index} term ${meta.term} voters=${meta.confState.voters.join('/')} learners=${meta.confState.learners.join('/')}`);
  }

  private persist(n: SimNode, rd: Ready): void {
    const s = n.store;
    if (rd.snapshot !== undefined) {
      const data = n.snapshotInbox.get(rd.snapshot.index);
      if (data === undefined) throw new PropertyViolation('sim-error', `${n.id} has no image for snapshot ${rd.snapshot.index}`);
      s.snapshot = rd.snapshot;
      s.snapshotData = data;
      s.entries = [];
      s.digests = [];
      n.snapshotInbox.clear();
    }
    if (rd.entries.length > 0) {
      const prevTerm = s.writeEntries(rd.entries);
      this.checker.entriesPersisted(
        n.id,
        rd.entries.map((e) => ({ index: e.index, term: e.term, digest: entryDigest(e) })),
        prevTerm,
      );
    }
    if (rd.hardState !== undefined) {
      const old = s.hardState;
      s.hardState = rd.hardState;
      if (rd.hardState.commit !== old.commit || rd.snapshot !== undefined) this.checker.commitPersisted(n.id, rd.hardState.term, Math.max(rd.hardState.commit, s.snapshot.index), s);
    } else if (rd.snapshot !== undefined) {
      this.checker.commitPersisted(n.id, s.hardState.term, s.snapshot.index, s);
    }
    if (rd.softState !== undefined) {
      const was = n.role;
      n.role = rd.softState.role;
      n.leader = rd.softState.leader;
      if (n.role === 'leader' && was !== 'leader') {
        this.stats.elections++;
        this.log(() => `${n.id} becomes leader of term ${s.hardState.term} (last=${s.lastIndex()})`);
        this.checker.leaderElected(n.id, s.hardState.term, s);
        if (this.faultsOn && n.crashAt < 0 && this.rng.chance(this.profile.crashNewLeaderP)) n.crashAt = this.now + this.rng.between(1, 8);
        if (this.faultsOn && this.rng.chance(this.profile.isolateNewLeaderP)) this.isolateAt.push({ id: n.id, at: this.now + this.rng.between(0, 4) });
      } else if (was === 'leader' && n.role !== 'leader') {
        this.log(() => `${n.id} steps down (term ${s.hardState.term})`);
      }
    }
  }

  private applyReady(n: SimNode, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      n.kv = KvStore.deserialize(n.store.snapshotData, this.opts.brokenNoDedup !== true);
      n.appliedIndex = rd.snapshot.index;
      this.stats.snapshotsInstalled++;
      this.checker.snapshotInstalled(n.id, rd.snapshot.index, rd.snapshot.term);
      this.log(() => `${n.id} installs snapshot ${rd.snapshot?.index ?? 0}`);
    }
    for (const e of rd.committedEntries) {
      if (e.index <= n.appliedIndex) continue;
      if (e.index !== n.appliedIndex + 1) throw new PropertyViolation('sim-error', `${n.id}: apply gap at ${e.index} after ${n.appliedIndex}`);
      this.checker.entryApplied(n.id, { index: e.index, term: e.term, digest: entryDigest(e) });
      n.appliedIndex = e.index;
      this.applyEntry(n, e);
    }
    for (const rs of rd.readStates) {
      const op = n.reads.get(rs.requestId);
      if (op === undefined) continue;
      n.reads.delete(rs.requestId);
      n.readsWaiting.push({ index: rs.index, op });
    }
    if (n.readsWaiting.length > 0) {
      const still: { index: number; op: ClientOp }[] = [];
      for (const w of n.readsWaiting) {
        if (w.index <= n.appliedIndex) {
          if (w.op.outcome === 'pending') {
            w.op.value = n.kv.get(w.op.key);
            this.complete(w.op, 'ok', n.id);
          }
        } else {
          still.push(w);
        }
      }
      n.readsWaiting = still;
    }
  }

  private applyEntry(n: SimNode, e: Entry): void {
    const mine = n.proposals.get(e.index);
    if (mine !== undefined) n.proposals.delete(e.index);
    if (e.type === EntryType.Normal) {
      const cmd = decodeCommand(e.data);
      const { executed, changed } = n.kv.apply(cmd);
      if (executed) this.checker.executed(cmd.client, cmd.seq, e.index, n.id);
      if (mine !== undefined && mine.outcome === 'pending') {
        const same = cmd.client === mine.process && cmd.seq === mine.seq;
        // Another entry took our index: ours was truncated and can never commit (unless the
        // write was resent: another copy may still commit, so its outcome is unknown).
        this.complete(mine, same && changed ? 'ok' : mine.resends > 0 && !same ? 'info' : 'fail', n.id);
      }
      return;
    }
    if (mine !== undefined && mine.outcome === 'pending') this.complete(mine, mine.resends > 0 ? 'info' : 'fail', n.id);
    if (e.type === EntryType.ConfChange && !this.handledConfIndexes.has(e.index)) {
      this.handledConfIndexes.add(e.index);
      const cc = decodeConfChange(e.data);
      this.log(() => `conf change committed at ${e.index}: ${cc.type} ${cc.node}`);
      if (cc.type === 'remove') {
        const victim = this.nodes.get(cc.node);
        if (victim !== undefined && !victim.decommissioned) {
          // The operator shuts a removed member down a little later (so it can hand over).
          victim.decommissioned = true;
          victim.stopAt = this.now + this.rng.between(1, 15);
        }
      }
    }
  }

  // -----------------------------------------------------------------------------------------
  // Faults

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.raw === null || n.role !== 'leader') continue;
      if (best === undefined || n.store.hardState.term > best.store.hardState.term) best = n;
    }
    return best;
  }

  private upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raw !== null);
  }

  private scheduled(): void {
    for (const n of this.nodes.values()) {
      if (n.crashAt >= 0 && n.crashAt <= this.now) {
        n.crashAt = -1;
        if (n.raw !== null && this.faultsOn) {
          n.restartAt = this.now + this.rng.between(1, 40);
          n.crashPhase = this.rng.pick<CrashPhase>(['beforePersist', 'afterPersist', 'afterSend', 'afterApply']);
        }
      }
      if (n.stopAt >= 0 && n.stopAt <= this.now) {
        n.stopAt = -1;
        this.crash(n, 'removed from the cluster: shut down');
      }
      if (n.raw === null && !n.decommissioned && n.restartAt >= 0 && n.restartAt <= this.now) this.start(n);
      if (n.clock !== 'normal' && n.clockUntil <= this.now) {
        const wasPaused = n.clock === 'paused';
        n.clock = 'normal';
        this.log(() => `${n.id} clock back to normal`);
        // The driver gives a held leader the ticks it missed before it reads anything
        // (MemberServer.advanceClock), capped as there; other members just resume ticking.
        if (wasPaused && n.raw !== null && n.role === 'leader') {
          const missed = Math.min(this.now - n.pausedAt, 2 * ELECTION_TICKS + 2);
          for (let i = 0; i < missed && n.raw !== null; i++) {
            n.raw.tick();
            this.steps++;
          }
        }
      }
    }
    if (this.isolateAt.length > 0 && this.faultsOn) {
      const due = this.isolateAt.filter((x) => x.at <= this.now);
      this.isolateAt = this.isolateAt.filter((x) => x.at > this.now);
      for (const x of due) {
        this.cut.clear();
        for (const o of this.nodes.keys()) if (o !== x.id) this.cutBoth(x.id, o);
        this.partitionUntil = this.now + this.rng.between(10, 80);
        this.stats.partitions++;
        this.log(() => `partition: isolate new leader ${x.id}`);
      }
    }
    if (this.partitionUntil >= 0 && this.partitionUntil <= this.now) {
      this.cut.clear();
      this.partitionUntil = -1;
      this.log(() => 'partition healed');
    }
  }

  private injectFaults(): void {
    const r = this.rng;
    const p = this.profile;
    if (this.partitionUntil < 0 && r.chance(p.partitionP)) this.partition();
    if (r.chance(p.crashP)) {
      const leader = this.currentLeader();
      const up = this.upNodes();
      const victim = leader !== undefined && r.chance(p.crashLeaderP) ? leader : up.length > 0 ? r.pick(up) : undefined;
      if (victim !== undefined) {
        victim.restartAt = this.now + r.between(1, 60);
        const phase = r.pick<CrashPhase | 'now'>(['now', 'beforePersist', 'afterPersist', 'afterSend', 'afterApply']);
        if (phase === 'now') this.crash(victim, 'now');
        else victim.crashPhase = phase;
      }
    }
    if (r.chance(p.clockP)) {
      const up = this.upNodes();
      if (up.length > 0) {
        const n = r.pick(up);
        n.clock = this.pausesOnly ? 'paused' : r.pick<Clock>(['fast', 'slow', 'paused']);
        n.pausedAt = this.now;
        n.clockUntil = this.now + r.between(5, 60);
        this.log(() => `${n.id} clock ${n.clock} until ${n.clockUntil}`);
      }
    }
    // A node whose crash was set for its next Ready but has none: crash now.
    for (const n of this.nodes.values()) if (n.crashPhase !== null && n.raw !== null && !n.raw.hasReady() && r.chance(0.2)) this.crash(n, 'pending crash');
    if (r.chance(p.memberP)) this.membershipChange();
    if (r.chance(p.transferP)) {
      const leader = this.currentLeader();
      if (leader?.raw != null) {
        const voters = leader.raw.status().confState.voters.filter((v) => v !== leader.id);
        const to = r.chance(0.3) || voters.length === 0 ? undefined : r.pick(voters);
        try {
          leader.raw.transferLeadership(to);
          this.stats.transfers++;
          this.log(() => `transfer leadership ${leader.id} -> ${to ?? '(default)'}`);
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
      }
    }
    if (r.chance(p.campaignP)) {
      const up = this.upNodes();
      if (up.length > 0) r.pick(up).raw?.campaign();
    }
    this.stepRejoin();
  }

  /** Advances the rejoin nemesis by one tick (all its choices come from rejoinRng). */
  private stepRejoin(): void {
    const r = this.rejoinRng;
    const c = this.rejoin;
    if (c === null) {
      if (this.profile.rejoinP === 0 || !r.chance(this.profile.rejoinP)) return;
      const leader = this.currentLeader();
      if (leader?.raw == null) return;
      const conf = leader.raw.status().confState;
      const others = [...conf.voters, ...conf.learners].filter((id) => id !== leader.id);
      // Keep a quorum of voters able to serve without the target.
      if (others.length === 0 || conf.voters.length < 3) return;
      const target = r.pick(others);
      const removeFrom = this.now + r.between(0, 150);
      this.rejoin = { target, stage: 'remove', until: removeFrom + REJOIN_STEP_TIMEOUT_TICKS, removeFrom, readded: false, rounds: r.between(1, 3) };
      this.stats.rejoins++;
      this.log(() => `rejoin: cut off ${target} (${this.rejoin?.rounds ?? 0} rounds)`);
      return;
    }
    const leader = this.currentLeader();
    const conf = leader?.raw?.status().confState;
    const inConf = conf !== undefined && (conf.voters.includes(c.target) || conf.learners.includes(c.target));
    if (c.stage === 'remove') {
      if (conf !== undefined && !inConf) {
        c.stage = 'readd';
        c.until = this.now + REJOIN_STEP_TIMEOUT_TICKS;
      } else if (this.now >= c.until) {
        this.endRejoin('removal did not commit');
      } else if (this.now >= c.removeFrom && leader?.raw != null && leader.id !== c.target && conf !== undefined && conf.voters.length >= 3 && r.chance(0.2)) {
        this.proposeRejoinChange(leader, 'remove', c.target);
      }
      return;
    }
    if (c.stage === 'readd') {
      const old = this.nodes.get(c.target);
      if (inConf) {
        c.stage = 'cut-off';
        c.until = this.now + r.between(10, 120);
      } else if (this.now >= c.until) {
        this.abandonJoin();
        this.endRejoin('re-add did not commit');
      } else if (leader?.raw != null && old !== undefined && r.chance(0.2)) {
        if (c.readded) {
          this.proposeRejoinChange(leader, 'addLearner', c.target);
          return;
        }
        if (!old.decommissioned) return; // the removal is committed but not applied yet
        if (old.raw !== null) this.crash(old, 'removed from the cluster: shut down');
        if (!this.proposeRejoinChange(leader, 'addLearner', c.target)) return;
        // A wiped disk; the term and vote survive half the time (an operator that keeps the
        // member's identity), otherwise the member starts from nothing (a deleted PVC).
        const carry = r.chance(0.5) ? old.store.hardState : undefined;
        this.createNode(c.target, { voters: [], learners: [] }, carry);
        c.readded = true;
        this.log(() => `rejoin: ${c.target} re-added with a wiped disk${carry !== undefined ? ` (term ${carry.term} kept)` : ''}`);
      }
      return;
    }
    if (c.stage === 'cut-off') {
      if (this.now < c.until) return;
      c.rounds--;
      if (c.rounds <= 0) {
        this.endRejoin('done');
        return;
      }
      // Between rounds: heal briefly and move leadership, as an operator's rollout would.
      c.stage = 'pause';
      c.until = this.now + r.between(5, 40);
      if (leader?.raw != null) {
        try {
          leader.raw.transferLeadership(undefined);
          this.stats.transfers++;
          this.log(() => `rejoin: transfer leadership away from ${leader.id}`);
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
      }
      return;
    }
    if (this.now >= c.until) {
      c.stage = 'remove';
      c.removeFrom = this.now + r.between(0, 150);
      c.until = c.removeFrom + REJOIN_STEP_TIMEOUT_TICKS;
      this.log(() => `rejoin: cut off ${c.target} again`);
    }
  }

  private proposeRejoinChange(leader: SimNode, type: 'remove' | 'addLearner', node: NodeId): boolean {
    try {
      leader.raw?.proposeConfChange({ type, node, context: new Uint8Array(0) });
    } catch (e) {
      if (e instanceof RaftError) return false;
      throw e;
    }
    this.stats.confChanges++;
    this.log(() => `rejoin: propose ${type} ${node} via ${leader.id}`);
    return true;
  }

  /**
   * A new incarnation whose addLearner never committed is shut down, as an operator deletes a
   * failed join: left running outside every configuration it would wait for an add forever.
   */
  private abandonJoin(): void {
    const c = this.rejoin;
    if (c === null || c.stage !== 'readd' || !c.readded) return;
    const n = this.nodes.get(c.target);
    if (n === undefined) return;
    this.crash(n, 'join abandoned: shut down');
    n.decommissioned = true;
  }

  /**
   * A joiner started for an addLearner that never committed (the proposal was lost with its
   * leader) waits outside every configuration for an add that no one will retry once faults stop;
   * an operator deletes such a failed join. Shut down: left running it would hold its term forever.
   */
  private abandonOrphans(): void {
    const known = new Set<NodeId>();
    for (const n of this.nodes.values()) {
      if (n.raw === null) continue;
      const cs = n.raw.status().confState;
      for (const id of [...cs.voters, ...cs.learners]) known.add(id);
    }
    for (const n of this.nodes.values()) {
      if (n.raw === null || n.decommissioned) continue;
      const cs = n.raw.status().confState;
      if (cs.voters.length === 0 && cs.learners.length === 0 && !known.has(n.id)) {
        this.crash(n, 'join never committed: shut down');
        n.decommissioned = true;
      }
    }
  }

  private endRejoin(why: string): void {
    this.log(() => `rejoin: ${this.rejoin?.target ?? '?'} healed (${why})`);
    this.rejoin = null;
  }

  /** The rejoin nemesis cuts its target off both ways while the cycle is removing or re-adding it. */
  private rejoinCut(m: Message): boolean {
    const c = this.rejoin;
    if (c === null || c.stage === 'pause') return false;
    return m.from === c.target || m.to === c.target;
  }

  private partition(): void {
    const r = this.rng;
    const ids = [...this.nodes.keys()];
    const kind = r.intBelow(3);
    this.cut.clear();
    if (kind === 0) {
      // Isolate one member (often the leader) both ways.
      const leader = this.currentLeader();
      const a = leader !== undefined && r.chance(0.5) ? leader.id : r.pick(ids);
      for (const o of ids) if (o !== a) this.cutBoth(a, o);
      this.log(() => `partition: isolate ${a}`);
    } else if (kind === 1) {
      const side = new Set(ids.filter(() => r.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) && !side.has(b)) this.cutBoth(a, b);
      this.log(() => `partition: {${[...side].join(',')}} | {${ids.filter((x) => !side.has(x)).join(',')}}`);
    } else {
      const links: string[] = [];
      const count = r.between(1, ids.length);
      for (let i = 0; i < count; i++) {
        const a = r.pick(ids);
        const b = r.pick(ids);
        if (a !== b) {
          this.cut.add(`${a}->${b}`);
          links.push(`${a}->${b}`);
        }
      }
      this.log(() => `partition one-way: ${links.join(' ')}`);
    }
    this.stats.partitions++;
    this.partitionUntil = this.now + r.between(5, 100);
  }

  private cutBoth(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}->${b}`);
    this.cut.add(`${b}->${a}`);
  }

  private membershipChange(): void {
    const leader = this.currentLeader();
    if (leader?.raw == null) return;
    const r = this.rng;
    const conf = leader.raw.status().confState;
    const members = new Set([...conf.voters, ...conf.learners]);
    const outsiders = this.allIds.filter((id) => !members.has(id));
    const choices: ConfChange['type'][] = [];
    if (outsiders.length > 0) choices.push('addLearner');
    if (conf.learners.length > 0) choices.push('promote', 'remove');
    if (conf.voters.length > 3) choices.push('remove');
    if (choices.length === 0) return;
    const type = r.pick(choices);
    let node: NodeId;
    if (type === 'addLearner') node = r.pick(outsiders);
    else if (type === 'promote') node = r.pick(conf.learners);
    else node = r.pick(conf.voters.length > 3 && r.chance(0.6) ? conf.voters : conf.learners.length > 0 ? conf.learners : conf.voters);
    if (type === 'addLearner' && leader.writing === null && leader.appliedIndex > leader.store.snapshot.index && r.chance(0.5)) {
      // As the daemon does: snapshot first, so the joiner learns the configuration from a
      // snapshot. Otherwise it may learn it from the log from index 1 (both paths are exercised).
      // Like the daemon's, only between Readys, not while one is being written.
      this.takeSnapshot(leader, leader.raw);
    }
    try {
      leader.raw.proposeConfChange({ type, node, context: new Uint8Array(0) });
    } catch (e) {
      if (e instanceof RaftError) return;
      throw e;
    }
    this.stats.confChanges++;
    this.log(() => `propose ${type} ${node} via ${leader.id}`);
    if (type === 'addLearner') {
      const old = this.nodes.get(node);
      if (old === undefined || old.decommissioned) {
        // A fresh disk; the term and vote survive a re-add so the member cannot vote twice in a term.
        if (old !== undefined) this.crash(old, 'replaced by a new incarnation');
        this.createNode(node, { voters: [], learners: [] }, old?.store.hardState);
      }
    }
  }

  private enterLiveness(): void {
    this.faultsOn = false;
    this.clientsOn = false;
    this.cut.clear();
    this.partitionUntil = -1;
    this.abandonJoin();
    this.rejoin = null;
    this.abandonOrphans();
    for (const n of this.nodes.values()) {
      n.clock = 'normal';
      n.crashPhase = null;
      if (n.raw === null && !n.decommissioned) this.start(n);
    }
  }

  /** Entries some live member holds beyond what the least advanced live member applied. */
  private backlog(): number {
    let maxLast = 0;
    let minApplied = Infinity;
    for (const n of this.nodes.values()) {
      if (n.raw === null || n.decommissioned) continue;
      maxLast = Math.max(maxLast, n.store.lastIndex());
      minApplied = Math.min(minApplied, n.appliedIndex);
    }
    return minApplied === Infinity ? 0 : Math.max(0, maxLast - minApplied);
  }

  private converged(): boolean {
    const leader = this.currentLeader();
    if (leader?.raw == null) return false;
    const st = leader.raw.status();
    if (st.commit < st.lastIndex || st.applied < st.commit) return false;
    // Is it the real leader (its term is the highest among members)?
    for (const n of this.nodes.values()) if (n.raw !== null && n.store.hardState.term > st.term && !n.decommissioned) return false;
    for (const id of [...st.confState.voters, ...st.confState.learners]) {
      const n = this.nodes.get(id);
      if (n === undefined || n.raw === null) continue;
      if (n.appliedIndex < st.commit) return false;
    }
    for (const c of this.clients) if (c.pending !== null) return false;
    return true;
  }

  private describeState(): string {
    const parts: string[] = [];
    for (const n of this.nodes.values()) {
      if (n.raw === null) {
        parts.push(`${n.id}:down${n.decommissioned ? '(removed)' : ''}`);
        continue;
      }
      const st = n.raw.status();
      parts.push(`${n.id}:${st.role} term=${st.term} commit=${st.commit} applied=${n.appliedIndex} last=${st.lastIndex} lead=${st.leader ?? '-'} voters=${st.confState.voters.join('/')} learners=${st.confState.learners.join('/')}`);
    }
    return parts.join('; ');
  }

  // -----------------------------------------------------------------------------------------
  // Clients

  private runClients(): void {
    const r = this.rng;
    for (const c of this.clients) {
      if (c.pending !== null || c.nextTick > this.now) continue;
      const key = r.pick(KEYS);
      const roll = r.next();
      const f: ClientOp['f'] = roll < 0.4 ? 'read' : roll < 0.75 ? 'write' : 'cas';
      const target = c.hint !== null && r.chance(0.9) ? c.hint : r.pick([...this.nodes.keys()]);
      const seq = ++c.seq;
      const value = f === 'read' ? null : `c${c.id}v${seq}`;
      const expected = f === 'cas' ? (r.chance(0.8) ? (c.seen.get(key) ?? null) : `c${r.between(1, this.clients.length)}v${r.between(1, Math.max(1, seq))}`) : null;
      const op: ClientOp = { process: c.id, key, f, value, expected, invoke: ++this.opClock, complete: 0, outcome: 'pending', seq, deadlineTick: this.now + this.clientTimeoutTicks, node: target, resends: 0 };
      this.history.push(op);
      c.pending = op;
      this.stats.clientOps++;
      this.invokeOn(c, op, target);
    }
  }

  private invokeOn(c: Client, op: ClientOp, target: NodeId, redirects = 0): void {
    const n = this.nodes.get(target);
    // A resent write may still take effect through an earlier copy: a refusal now says nothing.
    const refused = op.resends > 0 ? 'info' : 'fail';
    if (n?.raw == null || n.clock === 'paused') {
      // Connection refused: the request never reached a member.
      c.hint = null;
      this.complete(op, refused, `${target} unreachable`);
      return;
    }
    try {
      if (op.f === 'read') {
        const id = ++this.readId;
        n.raw.readIndex(id);
        n.reads.set(id, op);
      } else {
        const data = encodeCommand({ client: c.id, seq: op.seq, f: op.f, key: op.key, value: op.value ?? '', expected: op.expected });
        const { index } = n.raw.propose(data);
        n.proposals.set(index, op);
      }
      c.hint = target;
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      c.hint = e.leader;
      // A client library follows a redirect to the leader the member names (bounded).
      if (e.code === 'NotLeader' && e.leader !== null && e.leader !== target && redirects < 2) return this.invokeOn(c, op, e.leader, redirects + 1);
      this.complete(op, refused, `${target}: ${e.code}`);
    }
  }

  private complete(op: ClientOp, outcome: 'ok' | 'fail' | 'info', by: string): void {
    if (op.outcome !== 'pending') return;
    op.outcome = outcome;
    op.complete = ++this.opClock;
    const c = this.clients[op.process - 1] as Client;
    if (c.pending === op) {
      c.pending = null;
      // Back off after a failure, as a client would.
      c.nextTick = this.now + (outcome === 'ok' ? this.rng.between(0, 4) : this.rng.between(2, 12));
    }
    if (outcome === 'ok') {
      this.stats.clientOk++;
      c.seen.set(op.key, op.value);
    }
    if (outcome === 'info') this.stats.clientInfo++;
    this.log(() => `client ${describeOp(toRegisterOp(op))} (${by})`);
  }

  private expireClientOps(): void {
    for (const c of this.clients) {
      const op = c.pending;
      if (op !== null && op.deadlineTick <= this.now) {
        c.hint = null;
        if (op.f !== 'read' && this.clientsOn && op.resends < MAX_RESENDS && this.resendRng.chance(this.resendP)) {
          // Retry with the same sequence number, as a client with a session does after an
          // indeterminate answer, at a member picked afresh.
          op.resends++;
          op.deadlineTick = this.now + this.clientTimeoutTicks;
          const target = this.resendRng.pick([...this.nodes.keys()]);
          this.log(() => `client p${op.process} resends ${op.f} #${op.seq} to ${target} (${op.resends})`);
          this.invokeOn(c, op, target);
          continue;
        }
        this.complete(op, 'info', 'timeout');
      }
    }
  }

  private failPending(): void {
    for (const c of this.clients) if (c.pending !== null) this.complete(c.pending, 'info', 'run ended');
  }
}

function toRegisterOp(o: ClientOp): RegisterOp {
  const base = { process: o.process, key: o.key, f: o.f, value: o.value, invoke: o.invoke, complete: o.complete, outcome: o.outcome === 'pending' ? 'info' : o.outcome } as const;
  return o.f === 'cas' ? { ...base, expected: o.expected } : base;
}

const MSG_NAMES: Record<number, string> = {
  1: 'Vote', 2: 'VoteResp', 3: 'PreVote', 4: 'PreVoteResp', 5: 'Append', 6: 'AppendResp', 7: 'Heartbeat', 8: 'HeartbeatResp',
  9: 'Snapshot', 10: 'TimeoutNow', 11: 'ReadIndex', 12: 'ReadIndexResp',
};

/** One message on one line for traces. */
export function fmtMsg(m: Message): string {
  let s = `${m.from}->${m.to} ${MSG_NAMES[m.type] ?? String(m.type)} t${m.term}`;
  if (m.type === MessageType.Append) s += ` prev=${m.index}/${m.logTerm} n=${m.entries.length} commit=${m.commit}`;
  else if (m.type === MessageType.AppendResp) s += m.reject ? ` reject idx=${m.index} hint=${m.rejectHint}/${m.rejectHintTerm}` : ` ok idx=${m.index}`;
  else if (m.type === MessageType.Vote || m.type === MessageType.PreVote) s += ` last=${m.index}/${m.logTerm}`;
  else if (m.type === MessageType.VoteResp || m.type === MessageType.PreVoteResp) s += m.reject ? ' reject' : ' grant';
  else if (m.type === MessageType.Snapshot) s += ` snap=${m.snapshot?.index ?? 0}/${m.snapshot?.term ?? 0}`;
  else if (m.type === MessageType.ReadIndex || m.type === MessageType.ReadIndexResp) s += ` req=${m.context} idx=${m.index}`;
  return s;
}
