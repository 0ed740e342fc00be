// The daemon's Prometheus metrics, named after etcd's so dashboards and habits carry over.
// One registry per member process; labels are bounded (member names, routes, codes — never keys).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Buckets for disk latencies: 0.5 ms .. 8 s, as etcd's wal_fsync histogram. */
const DISK_SECONDS_BUCKETS = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];
/** Buckets for peer round trips: 0.1 ms .. 1.6 s. */
const RTT_SECONDS_BUCKETS = [0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.0128, 0.0256, 0.0512, 0.1024, 0.2048, 0.4096, 0.8192, 1.6384];
/** Buckets for HTTP requests: 0.25 ms .. 10 s. */
const HTTP_SECONDS_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every metric the daemon exports. Create once per process with `createMetrics`. */
export interface RaftkvMetrics {
  readonly registry: Registry;
  readonly hasLeader: Gauge;
  readonly isLeader: Gauge;
  readonly isLearner: Gauge;
  /** 1 for the member's current role, 0 for the others; label `role`. */
  readonly role: Gauge<'role'>;
  readonly leaderChangesSeen: Counter;
  readonly term: Gauge;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly lastIndex: Gauge;
  readonly snapshotIndex: Gauge;
  readonly proposalsCommitted: Counter;
  readonly proposalsApplied: Counter;
  readonly proposalsPending: Gauge;
  readonly proposalsFailed: Counter<'reason'>;
  readonly readIndexTotal: Counter;
  readonly walFsyncSeconds: Histogram;
  readonly backendCommitSeconds: Histogram;
  readonly peerRoundTripSeconds: Histogram<'to'>;
  readonly peerSentBytes: Counter<'to'>;
  readonly peerReceivedBytes: Counter<'from'>;
  readonly peerDroppedMessages: Counter<'to'>;
  /** Leader only: entries each follower is behind the leader's last index. */
  readonly followerLagEntries: Gauge<'follower'>;
  readonly snapshotSaveTotal: Counter;
  readonly snapshotSaveSeconds: Histogram;
  readonly snapshotSentTotal: Counter;
  readonly snapshotReceivedTotal: Counter;
  readonly snapshotInstallSeconds: Histogram;
  readonly httpRequestSeconds: Histogram<'route' | 'method' | 'code'>;
  readonly watchersActive: Gauge;
  readonly keysTotal: Gauge;
  /**
   * Where the exactly-once gauges and counters (raftkv_idempotency_*, raftkv_sessions_*) read
   * their values at scrape time: the member's KV state machine. Unset: they read zero.
   */
  setExactlyOnceSource(source: () => ExactlyOnceSnapshot): void;
}

/** What the exactly-once metrics show (the KV state machine's exactlyOnceStats()). */
export interface ExactlyOnceSnapshot {
  readonly idempotencyEntries: number;
  readonly idempotencyBytes: number;
  readonly idempotencyExpiredTotal: number;
  readonly idempotencyRefusedTotal: number;
  readonly sessionsLive: number;
  readonly sessionsOpenedTotal: number;
  readonly sessionsExpiredTotal: number;
  readonly sessionsRefusedTotal: number;
}

const NO_EXACTLY_ONCE: ExactlyOnceSnapshot = {
  idempotencyEntries: 0, idempotencyBytes: 0, idempotencyExpiredTotal: 0, idempotencyRefusedTotal: 0,
  sessionsLive: 0, sessionsOpenedTotal: 0, sessionsExpiredTotal: 0, sessionsRefusedTotal: 0,
};

/** Registers the exactly-once series; each reads `source()` when scraped. */
function registerExactlyOnce(r: Registry[], source: () => ExactlyOnceSnapshot): void {
  const gauge = (name: string, help: string, pick: (s: ExactlyOnceSnapshot) => number): void => {
    new Gauge({ name, help, registers: r, collect() { this.set(pick(source())); } });
  };
  // Counters whose running totals live in the state machine: set to the total at each scrape.
  const counter = (name: string, help: string, pick: (s: ExactlyOnceSnapshot) => number): void => {
    new Counter({ name, help, registers: r, collect() { this.reset(); this.inc(pick(source())); } });
  };
  gauge('raftkv_idempotency_entries', 'Idempotency-Key entries in the window (each a promise until its TTL passes).', (s) => s.idempotencyEntries);
  gauge('raftkv_idempotency_bytes', 'Accounted bytes of the idempotency window (bounded by --idempotency-budget-bytes).', (s) => s.idempotencyBytes);
  counter('raftkv_idempotency_expired_total', 'Idempotency entries dropped because their TTL passed (the only way one is dropped).', (s) => s.idempotencyExpiredTotal);
  counter('raftkv_idempotency_refused_total', 'Keyed writes refused with 429 because the window budget was full (applied nothing).', (s) => s.idempotencyRefusedTotal);
  gauge('raftkv_sessions_live', 'Open client sessions.', (s) => s.sessionsLive);
  counter('raftkv_sessions_opened_total', 'Client sessions opened.', (s) => s.sessionsOpenedTotal);
  counter('raftkv_sessions_expired_total', 'Client sessions expired after the session TTL without use.', (s) => s.sessionsExpiredTotal);
  counter('raftkv_sessions_refused_total', 'Session opens refused with 429 because --max-sessions were open.', (s) => s.sessionsRefusedTotal);
}

/**
 * Builds the registry with every metric plus the default process metrics. `member` becomes a
 * default label on every series, so one Prometheus can tell members apart without relabelling.
 */
export function createMetrics(member: string): RaftkvMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ member });
  collectDefaultMetrics({ register: registry });
  const r = [registry];
  let exactlyOnce: () => ExactlyOnceSnapshot = () => NO_EXACTLY_ONCE;
  registerExactlyOnce(r, () => exactlyOnce());
  return {
    setExactlyOnceSource: (source) => {
      exactlyOnce = source;
    },
    registry,
    hasLeader: new Gauge({ name: 'raftkv_server_has_leader', help: '1 if this member knows a leader, else 0.', registers: r }),
    isLeader: new Gauge({ name: 'raftkv_server_is_leader', help: '1 if this member is the leader, else 0.', registers: r }),
    isLearner: new Gauge({ name: 'raftkv_server_is_learner', help: '1 if this member is a learner (non-voter), else 0.', registers: r }),
    role: new Gauge({ name: 'raftkv_server_role', help: '1 for the current raft role of this member.', labelNames: ['role'], registers: r }),
    leaderChangesSeen: new Counter({ name: 'raftkv_server_leader_changes_seen_total', help: 'Leader changes seen by this member.', registers: r }),
    term: new Gauge({ name: 'raftkv_raft_term', help: 'Current raft term.', registers: r }),
    commitIndex: new Gauge({ name: 'raftkv_raft_commit_index', help: 'Highest log index known committed.', registers: r }),
    appliedIndex: new Gauge({ name: 'raftkv_raft_applied_index', help: 'Highest log index applied to the state machine.', registers: r }),
    lastIndex: new Gauge({ name: 'raftkv_raft_last_index', help: 'Last index in the local log.', registers: r }),
    snapshotIndex: new Gauge({ name: 'raftkv_raft_snapshot_index', help: 'Index of the latest snapshot.', registers: r }),
    proposalsCommitted: new Counter({ name: 'raftkv_server_proposals_committed_total', help: 'Consensus proposals committed.', registers: r }),
    proposalsApplied: new Counter({ name: 'raftkv_server_proposals_applied_total', help: 'Consensus proposals applied.', registers: r }),
    proposalsPending: new Gauge({ name: 'raftkv_server_proposals_pending', help: 'Proposals waiting to commit.', registers: r }),
    proposalsFailed: new Counter({ name: 'raftkv_server_proposals_failed_total', help: 'Proposals refused or failed, by reason.', labelNames: ['reason'], registers: r }),
    readIndexTotal: new Counter({ name: 'raftkv_server_read_indexes_total', help: 'Linearizable reads served through ReadIndex or lease.', registers: r }),
    walFsyncSeconds: new Histogram({ name: 'raftkv_disk_wal_fsync_duration_seconds', help: 'Latency of the synced raft log write (one per Ready).', buckets: DISK_SECONDS_BUCKETS, registers: r }),
    backendCommitSeconds: new Histogram({ name: 'raftkv_disk_backend_commit_duration_seconds', help: 'Latency of applying a committed batch to the state machine backend.', buckets: DISK_SECONDS_BUCKETS, registers: r }),
    peerRoundTripSeconds: new Histogram({ name: 'raftkv_network_peer_round_trip_time_seconds', help: 'Round trip time to peers.', labelNames: ['to'], buckets: RTT_SECONDS_BUCKETS, registers: r }),
    peerSentBytes: new Counter({ name: 'raftkv_network_peer_sent_bytes_total', help: 'Bytes sent to peers.', labelNames: ['to'], registers: r }),
    peerReceivedBytes: new Counter({ name: 'raftkv_network_peer_received_bytes_total', help: 'Bytes received from peers.', labelNames: ['from'], registers: r }),
    peerDroppedMessages: new Counter({ name: 'raftkv_network_peer_dropped_messages_total', help: 'Messages dropped because a peer queue was full or the peer unreachable.', labelNames: ['to'], registers: r }),
    followerLagEntries: new Gauge({ name: 'raftkv_raft_follower_lag_entries', help: 'Leader only: entries a follower is behind the leader.', labelNames: ['follower'], registers: r }),
    snapshotSaveTotal: new Counter({ name: 'raftkv_snapshot_save_total', help: 'Snapshots taken locally.', registers: r }),
    snapshotSaveSeconds: new Histogram({ name: 'raftkv_snapshot_save_duration_seconds', help: 'Time to take and store a snapshot.', buckets: DISK_SECONDS_BUCKETS, registers: r }),
    snapshotSentTotal: new Counter({ name: 'raftkv_snapshot_sent_total', help: 'Snapshots sent to lagging followers.', registers: r }),
    snapshotReceivedTotal: new Counter({ name: 'raftkv_snapshot_received_total', help: 'Snapshots received and installed.', registers: r }),
    snapshotInstallSeconds: new Histogram({ name: 'raftkv_snapshot_install_duration_seconds', help: 'Time to install a received snapshot.', buckets: DISK_SECONDS_BUCKETS, registers: r }),
    httpRequestSeconds: new Histogram({ name: 'raftkv_http_request_duration_seconds', help: 'HTTP request latency by route template, method and status code.', labelNames: ['route', 'method', 'code'], buckets: HTTP_SECONDS_BUCKETS, registers: r }),
    watchersActive: new Gauge({ name: 'raftkv_watchers_active', help: 'Open watch streams.', registers: r }),
    keysTotal: new Gauge({ name: 'raftkv_kv_keys_total', help: 'Keys in the store.', registers: r }),
  };
}
