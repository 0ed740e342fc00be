// Builds one member from its configuration: storage (loaded), the raft core, the peer
// transport, the KV state machine, the driver and the HTTP API, wired together. main.ts owns
// the process (signals, exit codes); this module owns construction order.
import type { DaemonConfig } from '../config/flags.js';
import { LIMITS } from '../config/limits.js';
import type { Logger } from '../observability/logger.js';
import type { RaftkvMetrics } from '../observability/metrics.js';
import { RawNode } from '../raft/index.js';
import type { Rng } from '../raft/types.js';
import { TcpTransport } from '../transport/tcp-transport.js';
import type { TcpTransportOptions } from '../transport/tcp-transport.js';
import type { Transport } from '../transport/types.js';
import type { FaultableTransport } from '../server.js';
import { ReloadableTls } from '../security/tls-material.js';
import { followPeerTlsRotation, transportTlsOf } from '../security/peer-transport.js';
import { TokenFile } from '../security/tokens.js';
import type { AccessControl } from '../api/access.js';
import type { ApiTls } from '../api/server.js';
import { forceNewClusterIfAsked } from './recovery.js';
import { SlowFsyncMonitor } from './slow-fsync.js';
import { registerDiskMetrics } from './disk-metrics.js';
import { KvStateMachine } from '../kv/state-machine.js';
import '../api/kv-binding.js';
import { createApiServer, findStatusPageDir } from '../api/server.js';
import type { ApiServer } from '../api/server.js';
import { MemberServer } from '../server.js';
import { META_KEYS, planStart } from './bootstrap.js';
import { WorkerRaftStorage } from '../storage/worker-raft-storage.js';
import { LogShipper } from '../backup/log-shipper.js';
import { parseBackupLocation } from '../backup/location.js';
import { s3OptionsFrom } from '../backup/s3-options.js';

/** What `wireMember` needs besides the configuration. */
export interface WireOptions {
  readonly config: DaemonConfig;
  readonly logger: Logger;
  readonly metrics: RaftkvMetrics;
  readonly electionTicks: number;
  readonly onFatal: (err: unknown) => void;
  readonly plantedBug?: string;
}

/** A constructed member: start the server, then listen with the API. */
export interface WiredMember {
  readonly server: MemberServer<KvStateMachine, unknown>;
  readonly api: ApiServer;
  /** True when the data dir already held a member (flags --initial-cluster* were ignored). */
  readonly resumed: boolean;
  /** Stops the credential reloaders and the slow-fsync check (call on shutdown). */
  stopBackground(): void;
  /** Continuous backup shipping (--backup-ship-to), or null. Start after the server; stop on shutdown. */
  readonly shipper: LogShipper | null;
}

/** Credential file watchers and their logger adapter. */
function watchLogger(logger: Logger): { info(o: Record<string, unknown>, m: string): void; warn(o: Record<string, unknown>, m: string): void } {
  return { info: (o, m) => logger.info(o, m), warn: (o, m) => logger.warn(o, m) };
}

/** Randomness for election timeouts; the core only needs uniform integers. */
const mathRng: Rng = { intBelow: (n) => Math.floor(Math.random() * n) };

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** Opens and loads storage, decides bootstrap vs resume, and builds every part. */
export async function wireMember(o: WireOptions): Promise<WiredMember> {
  const { config, logger, metrics } = o;
  // RocksDB on a worker thread: its writes fsync synchronously, which must not stall this loop.
  const storage = new WorkerRaftStorage(config.dataDir, { onWorkerDied: (err) => o.onFatal(err) });
  let loaded = await storage.load();
  loaded = await forceNewClusterIfAsked(storage, loaded, config, watchLogger(logger));
  const plan = planStart(config, loaded);
  if (plan.newBootstrap) await storage.putMeta(META_KEYS.bootstrap, JSON.stringify(plan.newBootstrap));
  logger.info({ resumed: plan.resumed, voters: plan.confState.voters, learners: plan.confState.learners, snapshotIndex: plan.snapshot?.meta.index ?? 0, entries: loaded.entries.length }, plan.resumed ? 'resuming from disk' : 'bootstrapping a new member');
  const node = new RawNode({
    id: config.name,
    electionTicks: o.electionTicks,
    heartbeatTicks: 1,
    preVote: true,
    checkQuorum: true,
    leaseRead: config.leaseRead,
    maxInflightMsgs: LIMITS.maxInflightMsgs,
    maxSizePerMsgBytes: LIMITS.maxSizePerMsgBytes,
    maxUncommittedBytes: LIMITS.maxUncommittedBytes,
    maxLearnerLagEntries: LIMITS.maxLearnerLagEntries,
    rng: mathRng,
  }, plan.initialState);
  const listen = splitHostPort(config.listenPeer);
  let server: MemberServer<KvStateMachine, unknown> | null = null;
  const stoppers: (() => void)[] = [];
  const transportOptions: Omit<TcpTransportOptions, 'tls'> = {
    id: config.name,
    clusterId: config.clusterToken,
    clientUrl: config.advertiseClientUrl,
    listenHost: listen.host,
    listenPort: listen.port,
    logger: { warn: (obj, msg) => logger.warn(obj, msg) },
    observer: {
      onSent: (peer, _messages, bytes) => metrics.peerSentBytes.inc({ to: peer }, bytes),
      onReceived: (peer, _messages, bytes) => metrics.peerReceivedBytes.inc({ from: peer }, bytes),
      onDropped: (peer, reason) => {
        metrics.peerDroppedMessages.inc({ to: peer });
        if (reason === 'disconnected' || reason === 'queueFull') server?.peerUnreachable(peer);
      },
      onRtt: (peer, rttMs) => metrics.peerRoundTripSeconds.observe({ to: peer }, rttMs / 1000),
      onPeerGone: (peer) => server?.peerGone(peer),
      onHello: (peer, info) => {
        if (info.clientUrl !== undefined) server?.peerClientUrl(peer, info.clientUrl);
      },
    },
  };
  let transport: Transport & FaultableTransport;
  if (config.peerTls !== null) {
    // Mutual TLS: only members with a certificate from --peer-ca can connect or be dialled.
    const peerTls = new ReloadableTls('peer TLS', config.peerTls, watchLogger(logger));
    peerTls.start(config.credentialReloadIntervalMs);
    stoppers.push(() => peerTls.stop());
    const tlsTransport = new TcpTransport({ ...transportOptions, tls: transportTlsOf(peerTls.current) });
    followPeerTlsRotation(tlsTransport, peerTls, watchLogger(logger));
    transport = tlsTransport;
  } else {
    transport = new TcpTransport(transportOptions);
  }
  // The flags also judge commands from before budgets were stamped into the log.
  // The chaos tier's planted 'idempotency-lapse' (test entry only) shortens both exactly-once windows to 5 s.
  const lapse = o.plantedBug === 'idempotency-lapse' ? { idempotencyTtlMs: 5_000, sessionTtlMs: 5_000 } : {};
  const kv = new KvStateMachine({ limits: { idempotencyBudgetBytes: config.idempotencyBudgetBytes, maxSessions: config.maxSessions, ...lapse } });
  metrics.setExactlyOnceSource(() => kv.exactlyOnceStats());
  // Bad locations and S3 settings fail here, at start, as bad flags (exit 2 via FlagError).
  const shipper = config.backupShipTo === null ? null : new LogShipper({
    target: parseBackupLocation(config.backupShipTo, 'prefix'),
    s3: s3OptionsFrom(new Map(), process.env),
    limits: { intervalMs: config.backupShipIntervalMs, segmentMaxBytes: config.backupSegmentMaxBytes, bufferMaxBytes: config.backupShipBufferBytes },
    host: {
      member: config.name,
      isLeader: () => server?.isLeader() ?? false,
      stateImage: () => ({ image: kv.snapshot(), index: kv.appliedIndex, term: kv.appliedTerm, revision: kv.revision, keys: kv.size }),
    },
    logger: watchLogger(logger),
    registry: metrics.registry,
  });
  server = new MemberServer<KvStateMachine, unknown>({
    config, logger, metrics, storage, transport, node, stateMachine: kv,
    addressBook: plan.addressBook, confState: plan.confState, snapshot: plan.snapshot, hardState: plan.initialState.hardState,
    onFatal: o.onFatal,
    ...(o.plantedBug !== undefined ? { plantedBug: o.plantedBug } : {}),
    ...(shipper !== null ? { onApplied: (e, before, after) => shipper.tap(e, before, after), backupShippingStatus: () => shipper.status() } : {}),
  });
  // The status page (GET /) is optional: served when its folder is found beside the build or in the source tree.
  const statusPageDir = findStatusPageDir();
  let apiTls: ApiTls | undefined;
  if (config.clientTls !== null) {
    const clientTls = new ReloadableTls('client TLS', config.clientTls, watchLogger(logger));
    clientTls.start(config.credentialReloadIntervalMs);
    stoppers.push(() => clientTls.stop());
    apiTls = { get current() { return clientTls.current; }, onChange: (l) => clientTls.onChange(l), requireClientCert: config.clientTls.requireClientCert };
  }
  let access: AccessControl | undefined;
  if (config.authTokenFile !== null) {
    const tokens = new TokenFile(config.authTokenFile, watchLogger(logger));
    tokens.start(config.credentialReloadIntervalMs);
    stoppers.push(() => tokens.stop());
    access = { tokens, openPaths: new Set(config.authOpenPaths) };
    // The count only: token values and names never reach the log.
    logger.info({ entries: tokens.current.size, openPaths: config.authOpenPaths }, 'authentication on');
  }
  const api = createApiServer(server, {
    metrics, logger, maxRequestBytes: config.maxRequestBytes, maxWatchers: LIMITS.maxWatchers, enableFaultInjection: config.enableFaultInjection,
    idempotencyBudgetBytes: config.idempotencyBudgetBytes, maxSessions: config.maxSessions,
    // An election takes about one election timeout (randomised up to two): wait that long for one.
    leaderWaitMs: Math.min(config.requestTimeoutMs, 2 * config.electionTimeoutMs),
    ...(statusPageDir !== undefined ? { staticDir: statusPageDir } : {}),
    ...(apiTls !== undefined ? { tls: apiTls } : {}),
    ...(access !== undefined ? { access } : {}),
  });
  registerDiskMetrics(metrics.registry, config.dataDir);
  const fsync = new SlowFsyncMonitor(metrics.walFsyncSeconds, config.slowFsyncThresholdMs, config.slowFsyncWindowMs, { warn: (o, m) => logger.warn(o, m) });
  await fsync.start();
  stoppers.push(() => fsync.stop());
  return { server, api, resumed: plan.resumed, stopBackground: () => stoppers.forEach((f) => f()), shipper };
}
