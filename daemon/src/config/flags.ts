// Command-line flags of `raftkv` (`raftkv --help`), each also read from RAFTKV_<UPPER_SNAKE> in the
// environment; a flag wins over its variable. Parsing is pure (argv and env in, a config or a
// FlagError out) so it is unit-tested without starting anything.
import { assertLimits, LimitError } from './limits.js';
import { DEFAULT_KV_LIMITS } from '../kv/limits.js';
import type { TlsFiles } from '../security/tls-material.js';
import { RAFTKV_VERSION } from '../version.js';
import { LocationError, parseBackupLocation } from '../backup/location.js';
import { S3OptionsError, s3OptionsFrom } from '../backup/s3-options.js';

/** One line printed with every flag error (exit 2). */
export const USAGE_LINE =
  'usage: raftkv [--name NAME] [--data-dir DIR] [--listen-client URL] [--listen-peer HOST:PORT] [--initial-cluster n1=host:port,...] [--initial-cluster-state new|existing] [options]  (raftkv --help for all)';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** A peer named in --initial-cluster. */
export interface InitialPeer {
  readonly name: string;
  /** `host:port` */
  readonly peerAddress: string;
}

/** HTTPS on the client port. */
export interface ClientTlsConfig extends TlsFiles {
  /** --client-ca given: clients must present a certificate signed by it. */
  readonly requireClientCert: boolean;
}

/** The paths --auth-open-paths may name (each else needs the `read` role once auth is on). */
export const AUTH_OPENABLE_PATHS: readonly string[] = ['/healthz', '/readyz', '/metrics'];

/** The member's whole configuration after parsing and validation. */
export interface DaemonConfig {
  readonly name: string;
  readonly dataDir: string;
  readonly listenClientUrl: string;
  readonly advertiseClientUrl: string;
  /** `host:port` */
  readonly listenPeer: string;
  /** `host:port` */
  readonly advertisePeer: string;
  readonly initialCluster: readonly InitialPeer[];
  readonly initialClusterState: 'new' | 'existing';
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly snapshotEntries: number;
  readonly maxRequestBytes: number;
  readonly enableFaultInjection: boolean;
  readonly requestTimeoutMs: number;
  readonly maxPendingProposals: number;
  /** Byte budget of the idempotency window (keyed writes beyond it: 429, no promise dropped). */
  readonly idempotencyBudgetBytes: number;
  /** Client sessions open at once (POST /v1/sessions beyond it: 429). */
  readonly maxSessions: number;
  readonly logLevel: LogLevel;
  readonly clusterToken: string;
  readonly leaseRead: boolean;
  /** Mutual TLS between members (--peer-cert/--peer-key/--peer-ca); null: plain TCP. */
  readonly peerTls: TlsFiles | null;
  /** HTTPS on the client port (--cert/--key[/--client-ca]); null: plain HTTP. */
  readonly clientTls: ClientTlsConfig | null;
  /** --auth-token-file; null: no authentication. */
  readonly authTokenFile: string | null;
  /** Paths that stay open when auth is on. */
  readonly authOpenPaths: readonly string[];
  /** How often certificate and token files are checked for changes (0: never). */
  readonly credentialReloadIntervalMs: number;
  /** Rewrite the membership to this member alone, keeping its data (recovery from quorum loss). */
  readonly forceNewCluster: boolean;
  /**
   * --force-new-cluster-id: do what --force-new-cluster does at most once per id (the id is
   * recorded in the data dir), so a flag left in place by an orchestrator is safe on every restart;
   * null: off. With --force-new-cluster-member only the member of that name acts on it.
   */
  readonly forceNewClusterOnce: { readonly id: string; readonly member: string | null } | null;
  /** Log a warning when the WAL fsync p99 over the window passes this (0: off). */
  readonly slowFsyncThresholdMs: number;
  readonly slowFsyncWindowMs: number;
  /** --backup-ship-to: ship the committed log to this backup prefix (s3://BUCKET/PREFIX/ or file://DIR/); null: off. */
  readonly backupShipTo: string | null;
  /** Most time an applied entry waits before it is shipped (the recovery point while the store is up). */
  readonly backupShipIntervalMs: number;
  readonly backupSegmentMaxBytes: number;
  readonly backupShipBufferBytes: number;
}

/** Bad flags or environment: print the message and USAGE_LINE on stderr, exit 2. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

/** What `parseFlags` returns: a config to run, or a request to print help and exit 0. */
export type ParseResult = { readonly kind: 'run'; readonly config: DaemonConfig } | { readonly kind: 'help'; readonly text: string };

type FlagKind = 'string' | 'int' | 'bool';
interface FlagSpec {
  readonly flag: string;
  readonly kind: FlagKind;
  readonly help: string;
  /** Shown in --help; the real default is computed in `parseFlags` when it depends on other flags. */
  readonly defaultText: string;
}

const SPECS: readonly FlagSpec[] = [
  { flag: 'name', kind: 'string', defaultText: '$HOSTNAME', help: 'member name, unique in the cluster' },
  { flag: 'data-dir', kind: 'string', defaultText: './data/<name>', help: 'RocksDB directory (raft log, hard state, snapshots)' },
  { flag: 'listen-client', kind: 'string', defaultText: 'http://127.0.0.1:2379', help: 'HTTP API + /metrics listen URL' },
  { flag: 'advertise-client', kind: 'string', defaultText: 'listen URL', help: 'client URL other members and clients use to reach this member' },
  { flag: 'listen-peer', kind: 'string', defaultText: '127.0.0.1:2380', help: 'peer (raft) listen address host:port' },
  { flag: 'advertise-peer', kind: 'string', defaultText: 'listen address', help: 'peer address other members dial' },
  { flag: 'initial-cluster', kind: 'string', defaultText: 'just this member', help: 'bootstrap voters: n1=host1:2380,n2=host2:2380,...' },
  { flag: 'initial-cluster-state', kind: 'string', defaultText: 'new', help: "'new' (bootstrap) or 'existing' (join: added by POST /v1/members on the leader)" },
  { flag: 'election-timeout-ms', kind: 'int', defaultText: '1000', help: 'raft election timeout (>= 5 × heartbeat interval)' },
  { flag: 'heartbeat-interval-ms', kind: 'int', defaultText: '100', help: 'raft heartbeat interval; one raft tick' },
  { flag: 'snapshot-entries', kind: 'int', defaultText: '10000', help: 'take a snapshot and compact the log every N applied entries' },
  { flag: 'max-request-bytes', kind: 'int', defaultText: '1572864', help: 'largest accepted request body' },
  { flag: 'enable-fault-injection', kind: 'bool', defaultText: 'false', help: 'enable POST /v1/debug/faults (tests and drills only)' },
  { flag: 'request-timeout-ms', kind: 'int', defaultText: '5000', help: 'a write or linearizable read not done by then fails with 503 Timeout' },
  { flag: 'max-pending-proposals', kind: 'int', defaultText: '4096', help: 'proposals waiting for commit before new ones get 429' },
  { flag: 'idempotency-budget-bytes', kind: 'int', defaultText: '67108864', help: 'memory for the Idempotency-Key window (180 bytes + key length per keyed write, kept 10 min); a keyed write that would pass it gets 429 with Retry-After, never an evicted promise' },
  { flag: 'max-sessions', kind: 'int', defaultText: '100000', help: 'client sessions (POST /v1/sessions) open at once, ~128 bytes each; beyond it 429' },
  { flag: 'log-level', kind: 'string', defaultText: 'info', help: `${LOG_LEVELS.join('|')}` },
  { flag: 'cluster-token', kind: 'string', defaultText: 'raftkv', help: 'cluster id checked in the peer handshake; members with another token are refused' },
  { flag: 'peer-cert', kind: 'string', defaultText: 'none (plain TCP)', help: 'PEM certificate this member presents to peers (mutual TLS; with --peer-key and --peer-ca)' },
  { flag: 'peer-key', kind: 'string', defaultText: 'none', help: 'PEM private key of --peer-cert' },
  { flag: 'peer-ca', kind: 'string', defaultText: 'none', help: 'PEM CA bundle peers\' certificates must be signed by; a member with another certificate cannot join or vote' },
  { flag: 'cert', kind: 'string', defaultText: 'none (plain HTTP)', help: 'PEM certificate of the HTTPS client port (with --key; --listen-client must be https://)' },
  { flag: 'key', kind: 'string', defaultText: 'none', help: 'PEM private key of --cert' },
  { flag: 'client-ca', kind: 'string', defaultText: 'none', help: 'PEM CA bundle; when given, HTTPS clients must present a certificate signed by it' },
  { flag: 'auth-token-file', kind: 'string', defaultText: 'none (no auth)', help: "bearer tokens with roles, one '<token> <role> [name]' per line (role read|write|admin; 'cn=<CN> <role>' for client certificates); see docs/security.md" },
  { flag: 'auth-open-paths', kind: 'string', defaultText: AUTH_OPENABLE_PATHS.join(','), help: "with auth on, which of /healthz,/readyz,/metrics stay open ('none': all need the read role)" },
  { flag: 'credential-reload-interval-ms', kind: 'int', defaultText: '5000', help: 'check certificate and token files for changes this often and use new ones without a restart (0: never)' },
  { flag: 'force-new-cluster', kind: 'bool', defaultText: 'false', help: 'DISASTER RECOVERY: rewrite the membership to this member alone, keeping its data; start once with it, then without' },
  { flag: 'force-new-cluster-id', kind: 'string', defaultText: 'none', help: 'DISASTER RECOVERY, idempotent: as --force-new-cluster, but only once per ID (recorded in the data dir; later starts with the same ID resume normally)' },
  { flag: 'force-new-cluster-member', kind: 'string', defaultText: 'every member', help: 'with --force-new-cluster-id: only the member with this --name acts on it (one pod template for all members)' },
  { flag: 'slow-fsync-threshold-ms', kind: 'int', defaultText: '1000', help: 'warn in the log when the WAL fsync p99 over --slow-fsync-window-ms passes this (0: off)' },
  { flag: 'slow-fsync-window-ms', kind: 'int', defaultText: '60000', help: 'window of the slow-fsync check' },
  { flag: 'backup-ship-to', kind: 'string', defaultText: 'off', help: 'ship every committed change to this backup prefix (s3://BUCKET/PREFIX/ or file://DIR/) for point-in-time restore; S3 settings from the standard AWS environment (docs/backups.md)' },
  { flag: 'backup-ship-interval-ms', kind: 'int', defaultText: '1000', help: 'a committed change is shipped within this long while the store is reachable (segments are cut by age or size)' },
  { flag: 'backup-segment-max-bytes', kind: 'int', defaultText: '4194304', help: 'largest shipped log segment' },
  { flag: 'backup-ship-buffer-bytes', kind: 'int', defaultText: '33554432', help: 'applied changes kept in memory for shipping and for a new leader to continue from; beyond it the oldest go and the shipper uploads a full snapshot instead' },
  { flag: 'lease-read', kind: 'bool', defaultText: 'true', help: 'serve linearizable reads from the leader lease (assumes tick rates do not drift apart by more than ~10%); false = ReadIndex quorum round per batch' },
];

/** --force-new-cluster-id / --force-new-cluster-member → DaemonConfig.forceNewClusterOnce. */
function forceOnce(id: string | null, member: string | null): DaemonConfig['forceNewClusterOnce'] {
  if (id === null) {
    if (member !== null) throw new FlagError('--force-new-cluster-member needs --force-new-cluster-id');
    return null;
  }
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(id)) throw new FlagError('--force-new-cluster-id must be 1-128 characters of A-Z a-z 0-9 . _ -');
  return { id, member };
}

/** `election-timeout-ms` → `RAFTKV_ELECTION_TIMEOUT_MS` */
export function envNameOf(flag: string): string {
  return `RAFTKV_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** The full --help text. */
export function helpText(): string {
  const lines = ['raftkv: one member of a Raft-replicated key-value store', '', USAGE_LINE, '', 'Flags (each also from the environment variable shown; flags win):'];
  for (const s of SPECS) {
    const arg = s.kind === 'bool' ? '[=true|false]' : s.kind === 'int' ? ' N' : ' VALUE';
    lines.push(`  --${s.flag}${arg}`);
    lines.push(`      ${s.help} (default ${s.defaultText}; env ${envNameOf(s.flag)})`);
  }
  lines.push('  --help', '      print this text and exit 0');
  lines.push('  --version', '      print the version and exit 0', '');
  lines.push('Commands:');
  lines.push('  raftkv restore --from FILE --data-dir DIR --name NAME --initial-cluster n1=host:port,... [...]');
  lines.push('      build a data dir of a new cluster from a `raftctl snapshot save` backup (raftkv restore --help)', '');
  lines.push('Exit codes: 0 clean stop, 1 fatal error, 2 bad flags.');
  lines.push('SIGTERM/SIGINT: hand off leadership if leader, stop accepting writes, flush, exit 0 within 10 s.');
  return lines.join('\n');
}

function parseBool(flag: string, raw: string): boolean {
  const v = raw.toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes' || v === '') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new FlagError(`--${flag}: expected true or false, got '${raw}'`);
}

function parseInt10(flag: string, raw: string): number {
  if (!/^\d{1,12}$/.test(raw)) throw new FlagError(`--${flag}: expected a non-negative integer, got '${raw}'`);
  return Number(raw);
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const HOST_PORT_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Validates `host:port` (port 1..65535). Port 0 is allowed only when `allowZero`. */
export function checkHostPort(what: string, value: string, allowZero = false): string {
  const m = HOST_PORT_RE.exec(value);
  const port = m ? Number(m[2]) : -1;
  if (!m || port > 65535 || (port === 0 && !allowZero)) throw new FlagError(`${what}: expected host:port, got '${value}'`);
  return value;
}

function checkHttpUrl(what: string, value: string, scheme: 'http' | 'https' = 'http'): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new FlagError(`${what}: not a URL: '${value}'`);
  }
  if (u.protocol !== `${scheme}:`) {
    throw new FlagError(scheme === 'https'
      ? `${what}: with --cert/--key the client port speaks HTTPS: use an https:// URL, got '${value}'`
      : `${what}: an https:// URL needs --cert and --key; without them use http://, got '${value}'`);
  }
  if (u.port === '' ) throw new FlagError(`${what}: the URL needs an explicit port, got '${value}'`);
  return `${u.protocol}//${u.host}`;
}

/** Parses `n1=host:port,n2=host:port`; names unique. */
export function parseInitialCluster(raw: string): InitialPeer[] {
  const peers: InitialPeer[] = [];
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new FlagError(`--initial-cluster: expected name=host:port, got '${item}'`);
    const name = item.slice(0, eq);
    let address = item.slice(eq + 1);
    // Accept etcd's habit of writing peer URLs with a scheme.
    if (address.startsWith('http://')) address = address.slice('http://'.length).replace(/\/$/, '');
    if (!NAME_RE.test(name)) throw new FlagError(`--initial-cluster: bad member name '${name}'`);
    checkHostPort(`--initial-cluster (${name})`, address);
    if (peers.some((p) => p.name === name)) throw new FlagError(`--initial-cluster: '${name}' appears twice`);
    peers.push({ name, peerAddress: address });
  }
  if (peers.length === 0) throw new FlagError('--initial-cluster: no members');
  return peers;
}

/**
 * Parses argv (without node and script) and env into a validated config. Throws FlagError on
 * unknown flags, missing values, bad values or bounds that do not fit together.
 */
export function parseFlags(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParseResult {
  const byFlag = new Map(SPECS.map((s) => [s.flag, s]));
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return { kind: 'help', text: helpText() };
    if (arg === '--version') return { kind: 'help', text: `raftkv version ${RAFTKV_VERSION} (Node.js ${process.version})` };
    if (!arg.startsWith('--')) throw new FlagError(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = byFlag.get(flag);
    if (!spec) throw new FlagError(`unknown flag '--${flag}'`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.kind === 'bool') {
      const next = argv[i + 1];
      // `--flag true|false` is accepted as well as a bare `--flag`.
      if (next !== undefined && /^(true|false)$/i.test(next)) {
        value = next;
        i++;
      } else value = 'true';
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new FlagError(`--${flag} needs a value`);
      value = next;
      i++;
    }
    given.set(flag, value);
  }
  const raw = (flag: string): string | undefined => given.get(flag) ?? env[envNameOf(flag)];
  const str = (flag: string, dflt: string): string => {
    const v = raw(flag);
    if (v === undefined) return dflt;
    if (v === '') throw new FlagError(`--${flag} must not be empty`);
    return v;
  };
  const int = (flag: string, dflt: number): number => {
    const v = raw(flag);
    return v === undefined ? dflt : parseInt10(flag, v);
  };
  const bool = (flag: string, dflt: boolean): boolean => {
    const v = raw(flag);
    return v === undefined ? dflt : parseBool(flag, v);
  };

  const name = str('name', env['HOSTNAME'] ?? '');
  if (name === '') throw new FlagError('--name is required (no $HOSTNAME to default to)');
  if (!NAME_RE.test(name)) throw new FlagError(`--name: '${name}' must be 1..63 of [A-Za-z0-9._-], starting alphanumeric`);
  const optStr = (flag: string): string | null => {
    const v = raw(flag);
    if (v === undefined) return null;
    if (v === '') throw new FlagError(`--${flag} must not be empty`);
    return v;
  };
  const peerCert = optStr('peer-cert');
  const peerKey = optStr('peer-key');
  const peerCa = optStr('peer-ca');
  let peerTls: TlsFiles | null = null;
  if (peerCert !== null || peerKey !== null || peerCa !== null) {
    // All three: a peer port with TLS but without a CA would accept any certificate.
    if (peerCert === null || peerKey === null || peerCa === null) throw new FlagError('--peer-cert, --peer-key and --peer-ca go together (mutual TLS between members)');
    peerTls = { certFile: peerCert, keyFile: peerKey, caFile: peerCa };
  }
  const cert = optStr('cert');
  const key = optStr('key');
  const clientCa = optStr('client-ca');
  let clientTls: ClientTlsConfig | null = null;
  if (cert !== null || key !== null) {
    if (cert === null || key === null) throw new FlagError('--cert and --key go together (HTTPS on the client port)');
    clientTls = clientCa !== null ? { certFile: cert, keyFile: key, caFile: clientCa, requireClientCert: true } : { certFile: cert, keyFile: key, requireClientCert: false };
  } else if (clientCa !== null) {
    throw new FlagError('--client-ca needs --cert and --key (client certificates are checked by the HTTPS port)');
  }
  const scheme = clientTls !== null ? 'https' : 'http';
  const listenClientUrl = checkHttpUrl('--listen-client', str('listen-client', `${scheme}://127.0.0.1:2379`), scheme);
  const advertiseClientUrl = checkHttpUrl('--advertise-client', str('advertise-client', listenClientUrl), scheme);
  const openRaw = str('auth-open-paths', AUTH_OPENABLE_PATHS.join(','));
  const authOpenPaths = openRaw === 'none' ? [] : openRaw.split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const p of authOpenPaths) {
    if (!AUTH_OPENABLE_PATHS.includes(p)) throw new FlagError(`--auth-open-paths: '${p}' cannot be opened (only ${AUTH_OPENABLE_PATHS.join(', ')}, or 'none')`);
  }
  const listenPeer = checkHostPort('--listen-peer', str('listen-peer', '127.0.0.1:2380'));
  const advertisePeer = checkHostPort('--advertise-peer', str('advertise-peer', listenPeer));
  const clusterRaw = raw('initial-cluster');
  const initialCluster = clusterRaw === undefined ? [{ name, peerAddress: advertisePeer }] : parseInitialCluster(clusterRaw);
  const state = str('initial-cluster-state', 'new');
  if (state !== 'new' && state !== 'existing') throw new FlagError(`--initial-cluster-state: expected new or existing, got '${state}'`);
  if (state === 'new' && !initialCluster.some((p) => p.name === name)) {
    throw new FlagError(`--initial-cluster does not name this member ('${name}')`);
  }
  const logLevel = str('log-level', 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new FlagError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}`);
  const clusterToken = str('cluster-token', 'raftkv');
  if (clusterToken.length > 128) throw new FlagError('--cluster-token: at most 128 characters');

  const config: DaemonConfig = {
    name,
    dataDir: str('data-dir', `./data/${name}`),
    listenClientUrl,
    advertiseClientUrl,
    listenPeer,
    advertisePeer,
    initialCluster,
    initialClusterState: state,
    electionTimeoutMs: int('election-timeout-ms', 1000),
    heartbeatIntervalMs: int('heartbeat-interval-ms', 100),
    snapshotEntries: int('snapshot-entries', 10_000),
    maxRequestBytes: int('max-request-bytes', 1_572_864),
    enableFaultInjection: bool('enable-fault-injection', false),
    requestTimeoutMs: int('request-timeout-ms', 5000),
    maxPendingProposals: int('max-pending-proposals', 4096),
    idempotencyBudgetBytes: int('idempotency-budget-bytes', DEFAULT_KV_LIMITS.idempotencyBudgetBytes),
    maxSessions: int('max-sessions', DEFAULT_KV_LIMITS.maxSessions),
    logLevel: logLevel as LogLevel,
    clusterToken,
    leaseRead: bool('lease-read', true),
    peerTls,
    clientTls,
    authTokenFile: optStr('auth-token-file'),
    authOpenPaths,
    credentialReloadIntervalMs: int('credential-reload-interval-ms', 5000),
    forceNewCluster: bool('force-new-cluster', false),
    forceNewClusterOnce: forceOnce(optStr('force-new-cluster-id'), optStr('force-new-cluster-member')),
    slowFsyncThresholdMs: int('slow-fsync-threshold-ms', 1000),
    slowFsyncWindowMs: int('slow-fsync-window-ms', 60_000),
    backupShipTo: optStr('backup-ship-to'),
    backupShipIntervalMs: int('backup-ship-interval-ms', 1000),
    backupSegmentMaxBytes: int('backup-segment-max-bytes', 4 * 1024 * 1024),
    backupShipBufferBytes: int('backup-ship-buffer-bytes', 32 * 1024 * 1024),
  };
  if (config.backupShipTo !== null) {
    try {
      parseBackupLocation(config.backupShipTo, 'prefix');
      s3OptionsFrom(new Map(), env);
    } catch (err) {
      if (err instanceof LocationError || err instanceof S3OptionsError) throw new FlagError(`--backup-ship-to: ${err.message}`);
      throw err;
    }
  }
  if (config.backupShipIntervalMs < 10 || config.backupShipIntervalMs > 3_600_000) throw new FlagError('--backup-ship-interval-ms must be between 10 and 3600000');
  if (config.backupSegmentMaxBytes < 4096 || config.backupSegmentMaxBytes > 256 * 1024 * 1024) throw new FlagError('--backup-segment-max-bytes must be between 4096 and 268435456');
  if (config.backupShipBufferBytes < config.backupSegmentMaxBytes) throw new FlagError('--backup-ship-buffer-bytes must be at least --backup-segment-max-bytes');
  if (config.slowFsyncWindowMs < 1000) throw new FlagError('--slow-fsync-window-ms must be at least 1000');
  try {
    assertLimits(config);
  } catch (err) {
    if (err instanceof LimitError) throw new FlagError(err.message);
    throw err;
  }
  return { kind: 'run', config };
}
