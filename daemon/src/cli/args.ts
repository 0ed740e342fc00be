// raftctl's command line: global flags, then one command with its arguments. Parsing is pure
// (argv and env in, a Command or a UsageError out) so it is tested without a cluster.
import { MAX_KEEP } from './snapshot-dir.js';
import { SNAPSHOT_URL_USAGE, SnapshotUrlArgsError, isSnapshotUrlCommand, parseSnapshotUrlCommand } from './snapshot-url-args.js';
import type { SnapshotUrlAction } from './snapshot-url-args.js';
import { S3_FLAGS_HELP } from '../backup/s3-options.js';

/** Printed with every usage error (exit 2) and for --help (exit 0). */
export const USAGE = `usage: raftctl [--endpoints URL,URL] [--timeout-ms N] [--token T | --token-file F] [--cacert F] [--cert F --key F] <command>
commands:
  put KEY VALUE|-                      write a value (- reads it from stdin)
  get KEY [--serializable]             print a value (linearizable unless --serializable)
  del KEY                              delete a key
  list PREFIX [--limit N]              list keys and values under a prefix
  watch PREFIX [--from-revision R]     stream changes under a prefix
  status                               a table of every member
  members list|add NAME PEER_URL CLIENT_URL|promote NAME|remove NAME
  leader transfer [NAME]               move leadership (to NAME or the most caught-up voter)
  snapshot                             take a snapshot on the leader now
  snapshot save FILE [--serializable]  download a backup (checksummed) from the first endpoint
  snapshot save --dir DIR [--keep N] [--serializable]
                                       save as DIR/snapshot-<UTC time>-rev<R>-<tag>.snap, then delete
                                       the oldest such files beyond N (1..1000; nothing else)
${SNAPSHOT_URL_USAGE}
  lock acquire NAME OWNER TTL_MS       acquire a lock, print its fencing token
  lock release NAME TOKEN              release a lock
  txn FILE.json|-                      run a transaction (API.md §2 body)
  bench ...                            load generator (raftctl bench --help)
endpoints default to $RAFTKV_ENDPOINTS or http://127.0.0.1:2379 (https:// for members with --cert)
--token (or $RAFTKV_TOKEN): bearer token for members with --auth-token-file
--token-file (or $RAFTKV_TOKEN_FILE): read it from a file: the token alone, or a member token file
  (its first admin entry)
--cacert/--cert/--key (or $RAFTKV_CACERT/_CERT/_KEY): CA bundle of the members' HTTPS certificates,
  client certificate and key (members with --client-ca)
${S3_FLAGS_HELP}`;

/** Default endpoint when neither --endpoints nor RAFTKV_ENDPOINTS is given. */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:2379';
/** Default per-request timeout. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Bounds on what the command line may ask for. */
export const CLI_LIMITS = { maxEndpoints: 32, maxTimeoutMs: 10 * 60_000, maxListLimit: 10_000 } as const;

/** Bad usage: print the message and USAGE on stderr, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One parsed command. */
export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'get'; readonly key: string; readonly serializable: boolean }
  | { readonly kind: 'del'; readonly key: string }
  | { readonly kind: 'list'; readonly prefix: string; readonly limit: number | null }
  | { readonly kind: 'watch'; readonly prefix: string; readonly fromRevision: number | null }
  | { readonly kind: 'status' }
  | { readonly kind: 'members-list' }
  | { readonly kind: 'members-add'; readonly name: string; readonly peerUrl: string; readonly clientUrl: string }
  | { readonly kind: 'members-promote'; readonly name: string }
  | { readonly kind: 'members-remove'; readonly name: string }
  | { readonly kind: 'leader-transfer'; readonly to: string | null }
  | { readonly kind: 'snapshot' }
  | { readonly kind: 'snapshot-save'; readonly file: string; readonly serializable: boolean }
  /** Scheduled backups: a timestamped file in `dir`, then the oldest beyond `keep` (null = all kept) deleted. */
  | { readonly kind: 'snapshot-save-dir'; readonly dir: string; readonly keep: number | null; readonly serializable: boolean }
  /** `snapshot save s3://...|file://...` and `snapshot list ...` (cli/snapshot-url-args.ts). */
  | { readonly kind: 'snapshot-url'; readonly action: SnapshotUrlAction }
  | { readonly kind: 'lock-acquire'; readonly name: string; readonly owner: string; readonly ttlMs: number }
  | { readonly kind: 'lock-release'; readonly name: string; readonly token: number }
  | { readonly kind: 'txn'; readonly file: string }
  | { readonly kind: 'bench'; readonly argv: readonly string[] };

/** Global options. */
export interface GlobalOptions {
  readonly endpoints: readonly string[];
  /** True when the endpoints came from --endpoints or RAFTKV_ENDPOINTS (not the default). */
  readonly endpointsGiven: boolean;
  readonly timeoutMs: number;
  /** Bearer token (--token / RAFTKV_TOKEN), or null. */
  readonly token: string | null;
  /** File to read the bearer token from (--token-file / RAFTKV_TOKEN_FILE), or null; excludes `token`. */
  readonly tokenFile: string | null;
  /** PEM files for https:// endpoints. */
  readonly tls: { readonly caFile: string | null; readonly certFile: string | null; readonly keyFile: string | null };
}

/** The whole command line. */
export interface ParsedArgs {
  readonly options: GlobalOptions;
  readonly command: Command;
}

function parseEndpoints(text: string): string[] {
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new UsageError('--endpoints needs at least one URL');
  if (list.length > CLI_LIMITS.maxEndpoints) throw new UsageError(`at most ${CLI_LIMITS.maxEndpoints} endpoints`);
  return list.map((e) => {
    const withScheme = /^[a-z]+:\/\//i.test(e) ? e : `http://${e}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      throw new UsageError(`bad endpoint URL: ${e}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`endpoint must be http:// or https://: ${e}`);
    return u.origin;
  });
}

function positiveInt(text: string | undefined, what: string, max: number): number {
  if (text === undefined || !/^[0-9]+$/.test(text)) throw new UsageError(`${what} must be a non-negative integer`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n > max) throw new UsageError(`${what} must be <= ${max}`);
  return n;
}

function exactly(args: readonly string[], n: number, form: string): void {
  if (args.length !== n) throw new UsageError(`usage: raftctl ${form}`);
}

/** Splits `--flag value` / `--flag=value` / `--bool` options out of a command's arguments. */
function takeFlags(args: readonly string[], valued: readonly string[], bools: readonly string[]): { rest: string[]; values: Map<string, string>; flags: Set<string> } {
  const rest: string[] = [];
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') {
      rest.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      rest.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq === -1 ? a : a.slice(0, eq);
    if (bools.includes(name)) {
      if (eq !== -1) throw new UsageError(`${name} takes no value`);
      flags.add(name);
    } else if (valued.includes(name)) {
      const v = eq === -1 ? args[++i] : a.slice(eq + 1);
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      values.set(name, v);
    } else {
      throw new UsageError(`unknown flag: ${name}`);
    }
  }
  return { rest, values, flags };
}

function parseCommand(argv: readonly string[]): Command {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case undefined:
      throw new UsageError('no command given');
    case 'help':
      return { kind: 'help' };
    case 'bench':
      return { kind: 'bench', argv: args };
    case 'put': {
      const f = takeFlags(args, [], []);
      exactly(f.rest, 2, 'put KEY VALUE|-');
      return { kind: 'put', key: f.rest[0] as string, value: f.rest[1] as string };
    }
    case 'get': {
      const f = takeFlags(args, [], ['--serializable']);
      exactly(f.rest, 1, 'get KEY [--serializable]');
      return { kind: 'get', key: f.rest[0] as string, serializable: f.flags.has('--serializable') };
    }
    case 'del':
    case 'delete': {
      const f = takeFlags(args, [], []);
      exactly(f.rest, 1, 'del KEY');
      return { kind: 'del', key: f.rest[0] as string };
    }
    case 'list': {
      const f = takeFlags(args, ['--limit'], []);
      if (f.rest.length > 1) throw new UsageError('usage: raftctl list PREFIX [--limit N]');
      const limitText = f.values.get('--limit');
      const limit = limitText === undefined ? null : positiveInt(limitText, '--limit', CLI_LIMITS.maxListLimit);
      return { kind: 'list', prefix: f.rest[0] ?? '', limit };
    }
    case 'watch': {
      const f = takeFlags(args, ['--from-revision'], []);
      if (f.rest.length > 1) throw new UsageError('usage: raftctl watch PREFIX [--from-revision R]');
      const r = f.values.get('--from-revision');
      return { kind: 'watch', prefix: f.rest[0] ?? '', fromRevision: r === undefined ? null : positiveInt(r, '--from-revision', Number.MAX_SAFE_INTEGER) };
    }
    case 'status':
      exactly(args, 0, 'status');
      return { kind: 'status' };
    case 'members': {
      const [sub, ...rest] = args;
      switch (sub) {
        case 'list':
        case undefined:
          exactly(rest, 0, 'members list');
          return { kind: 'members-list' };
        case 'add':
          if (rest.length !== 2 && rest.length !== 3) throw new UsageError('usage: raftctl members add NAME PEER_URL CLIENT_URL');
          return { kind: 'members-add', name: rest[0] as string, peerUrl: rest[1] as string, clientUrl: rest[2] ?? '' };
        case 'promote':
          exactly(rest, 1, 'members promote NAME');
          return { kind: 'members-promote', name: rest[0] as string };
        case 'remove':
          exactly(rest, 1, 'members remove NAME');
          return { kind: 'members-remove', name: rest[0] as string };
        default:
          throw new UsageError(`unknown members subcommand: ${sub}`);
      }
    }
    case 'leader': {
      const [sub, ...rest] = args;
      if (sub !== 'transfer' || rest.length > 1) throw new UsageError('usage: raftctl leader transfer [NAME]');
      return { kind: 'leader-transfer', to: rest[0] ?? null };
    }
    case 'snapshot': {
      if (isSnapshotUrlCommand(args)) {
        try {
          return { kind: 'snapshot-url', action: parseSnapshotUrlCommand(args) };
        } catch (err) {
          throw err instanceof SnapshotUrlArgsError ? new UsageError(err.message) : err;
        }
      }
      if (args[0] === 'save') {
        const f = takeFlags(args.slice(1), ['--dir', '--keep'], ['--serializable']);
        const serializable = f.flags.has('--serializable');
        const dir = f.values.get('--dir');
        const keepText = f.values.get('--keep');
        if (dir === undefined) {
          if (keepText !== undefined) throw new UsageError('--keep needs --dir (it prunes a backup directory)');
          exactly(f.rest, 1, 'snapshot save FILE [--serializable] | snapshot save --dir DIR [--keep N]');
          return { kind: 'snapshot-save', file: f.rest[0] as string, serializable };
        }
        if (dir === '') throw new UsageError('--dir must not be empty');
        if (f.rest.length !== 0) throw new UsageError('usage: raftctl snapshot save --dir DIR [--keep N] (no FILE with --dir)');
        const keep = keepText === undefined ? null : positiveInt(keepText, '--keep', MAX_KEEP);
        if (keep === 0) throw new UsageError(`--keep must be 1..${MAX_KEEP}`);
        return { kind: 'snapshot-save-dir', dir, keep, serializable };
      }
      exactly(args, 0, 'snapshot | snapshot save FILE');
      return { kind: 'snapshot' };
    }
    case 'lock': {
      const [sub, ...rest] = args;
      if (sub === 'acquire') {
        exactly(rest, 3, 'lock acquire NAME OWNER TTL_MS');
        return { kind: 'lock-acquire', name: rest[0] as string, owner: rest[1] as string, ttlMs: positiveInt(rest[2], 'TTL_MS', 24 * 60 * 60 * 1000) };
      }
      if (sub === 'release') {
        exactly(rest, 2, 'lock release NAME TOKEN');
        return { kind: 'lock-release', name: rest[0] as string, token: positiveInt(rest[1], 'TOKEN', Number.MAX_SAFE_INTEGER) };
      }
      throw new UsageError('usage: raftctl lock acquire NAME OWNER TTL_MS | lock release NAME TOKEN');
    }
    case 'txn':
      exactly(args, 1, 'txn FILE.json|-');
      return { kind: 'txn', file: args[0] as string };
    default:
      throw new UsageError(`unknown command: ${cmd}`);
  }
}

/**
 * Parses raftctl's argv (without node and the script). Global flags come before the command.
 * Throws UsageError on anything it cannot run.
 */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedArgs {
  let endpoints: string[] | null = null;
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  const given = new Map<string, string>();
  const noTls = { caFile: null, certFile: null, keyFile: null };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-h' || a === '--help') return { options: { endpoints: [DEFAULT_ENDPOINT], endpointsGiven: false, timeoutMs, token: null, tokenFile: null, tls: noTls }, command: { kind: 'help' } };
    if (!a.startsWith('--')) break;
    const eq = a.indexOf('=');
    const name = eq === -1 ? a : a.slice(0, eq);
    const value = (): string => {
      const v = eq === -1 ? argv[++i] : a.slice(eq + 1);
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (name === '--endpoints' || name === '--endpoint') endpoints = parseEndpoints(value());
    else if (name === '--timeout-ms') {
      timeoutMs = positiveInt(value(), '--timeout-ms', CLI_LIMITS.maxTimeoutMs);
      if (timeoutMs === 0) throw new UsageError('--timeout-ms must be > 0');
    } else if (name === '--token' || name === '--token-file' || name === '--cacert' || name === '--cert' || name === '--key') {
      const v = value();
      if (v === '') throw new UsageError(`${name} must not be empty`);
      given.set(name, v);
    } else throw new UsageError(`unknown flag: ${name}`);
  }
  const opt = (flag: string, envName: string): string | null => {
    const v = given.get(flag) ?? env[envName];
    return v === undefined || v === '' ? null : v;
  };
  const token = opt('--token', 'RAFTKV_TOKEN');
  const tokenFile = opt('--token-file', 'RAFTKV_TOKEN_FILE');
  if (token !== null && tokenFile !== null) throw new UsageError('--token and --token-file exclude each other');
  const tls = { caFile: opt('--cacert', 'RAFTKV_CACERT'), certFile: opt('--cert', 'RAFTKV_CERT'), keyFile: opt('--key', 'RAFTKV_KEY') };
  if ((tls.certFile === null) !== (tls.keyFile === null)) throw new UsageError('--cert and --key go together');
  let endpointsGiven = endpoints !== null;
  if (endpoints === null) {
    const fromEnv = env['RAFTKV_ENDPOINTS'];
    endpointsGiven = fromEnv !== undefined && fromEnv.trim() !== '';
    endpoints = endpointsGiven ? parseEndpoints(fromEnv as string) : [DEFAULT_ENDPOINT];
  }
  return { options: { endpoints, endpointsGiven, timeoutMs, token, tokenFile, tls }, command: parseCommand(argv.slice(i)) };
}
