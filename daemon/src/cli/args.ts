// raftctl's command line: global flags, then one command with its arguments. Parsing is pure
// (argv and env in, a Command or a UsageError out) so it is tested without a cluster.
import { commandHelp } from './help.js';
import { MAX_KEEP } from './snapshot-dir.js';
import { SnapshotUrlArgsError, isSnapshotUrlCommand, parseSnapshotUrlCommand } from './snapshot-url-args.js';
import type { SnapshotUrlAction } from './snapshot-url-args.js';

/** Default endpoint when neither --endpoints nor RAFTKV_ENDPOINTS is given. */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:2379';
/** Default deadline of a command (all its attempts and retries). */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Bounds on what the command line may ask for. */
export const CLI_LIMITS = { maxEndpoints: 32, maxTimeoutMs: 10 * 60_000, maxListLimit: 10_000, maxIdempotencyKeyChars: 256, maxLockNameBytes: 256 } as const;

/** Output formats of `-w`. */
export const OUTPUT_FORMATS = ['simple', 'json', 'table'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Shells `raftctl completion` writes a script for. */
export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** Bad usage: print the message and the command's short usage on stderr, exit 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command: string | null = null) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Options shared by every write: how a retried write stays applied once. */
export interface WriteOptions {
  /** Idempotency-Key to send (--idempotency-key), or null. */
  readonly idempotencyKey: string | null;
  /** --retry: retry when the outcome is unknown too (with an automatic key unless one is given). */
  readonly retry: boolean;
}

/** Conditions of a key write. */
export interface KeyConditions {
  /** If-Match (--if-match): the mod revision the key must have (0: must not exist), or null. */
  readonly ifMatch: number | null;
  /** Fencing-Token (--fencing-token LOCK:TOKEN), or null. */
  readonly fencingToken: string | null;
}

/** One parsed command. */
export type Command =
  | { readonly kind: 'help'; readonly topic: string | null }
  | { readonly kind: 'version' }
  | { readonly kind: 'completion'; readonly shell: CompletionShell }
  | ({ readonly kind: 'put'; readonly key: string; readonly value: string } & KeyConditions & WriteOptions)
  | { readonly kind: 'get'; readonly key: string; readonly serializable: boolean }
  | ({ readonly kind: 'del'; readonly key: string } & KeyConditions & WriteOptions)
  | { readonly kind: 'list'; readonly prefix: string; readonly limit: number | null }
  /** `prefix` '' with --all. */
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
  | ({ readonly kind: 'lock-acquire'; readonly name: string; readonly owner: string; readonly ttlMs: number } & WriteOptions)
  | ({ readonly kind: 'lock-release'; readonly name: string; readonly token: number } & WriteOptions)
  | ({ readonly kind: 'txn'; readonly file: string } & WriteOptions)
  | { readonly kind: 'bench'; readonly argv: readonly string[] };

/** Global options. */
export interface GlobalOptions {
  readonly endpoints: readonly string[];
  /** True when the endpoints came from --endpoints or RAFTKV_ENDPOINTS (not the default). */
  readonly endpointsGiven: boolean;
  /** The command's deadline: every attempt and retry together (--timeout / --timeout-ms). */
  readonly timeoutMs: number;
  /** -w / --write-out. */
  readonly output: OutputFormat;
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

function positiveInt(text: string | undefined, what: string, max: number, command: string | null = null): number {
  if (text === undefined || !/^[0-9]+$/.test(text)) throw new UsageError(`${what} must be a non-negative integer`, command);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n > max) throw new UsageError(`${what} must be <= ${max}`, command);
  return n;
}

/** "10s", "500ms", "2m", "1.5s" (the unit is required: a bare 10 is a usage error, not 10 ms). */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim());
  if (!m) throw new UsageError(`${what}: bad duration '${text}' (e.g. 500ms, 10s, 1m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const ms = Math.round(unit === 'm' ? n * 60_000 : unit === 's' ? n * 1000 : n);
  if (ms <= 0) throw new UsageError(`${what} must be > 0`);
  if (ms > CLI_LIMITS.maxTimeoutMs) throw new UsageError(`${what} must be <= ${CLI_LIMITS.maxTimeoutMs / 60_000}m`);
  return ms;
}

function exactly(args: readonly string[], n: number, command: string): void {
  const flag = args.find((a) => a.startsWith('--'));
  if (flag !== undefined) throw new UsageError(`unknown flag: ${flag.split('=')[0] ?? flag}`, command);
  if (args.length !== n) throw new UsageError(args.length < n ? 'missing arguments' : `unexpected argument '${args[n] ?? ''}'`, command);
}

/** Splits `--flag value` / `--flag=value` / `--bool` options out of a command's arguments. */
function takeFlags(command: string, args: readonly string[], valued: readonly string[], bools: readonly string[]): { rest: string[]; values: Map<string, string>; flags: Set<string> } {
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
      if (eq !== -1) throw new UsageError(`${name} takes no value`, command);
      flags.add(name);
    } else if (valued.includes(name)) {
      const v = eq === -1 ? args[++i] : a.slice(eq + 1);
      if (v === undefined) throw new UsageError(`${name} needs a value`, command);
      values.set(name, v);
    } else {
      throw new UsageError(`unknown flag: ${name}`, command);
    }
  }
  return { rest, values, flags };
}

/** `--idempotency-key` as the members accept it: 1..256 visible ASCII characters. */
function idempotencyKeyOf(v: string | undefined, command: string): string | null {
  if (v === undefined) return null;
  if (v.length === 0 || v.length > CLI_LIMITS.maxIdempotencyKeyChars || !/^[\x21-\x7e]+$/.test(v)) {
    throw new UsageError(`--idempotency-key must be 1..${CLI_LIMITS.maxIdempotencyKeyChars} visible ASCII characters`, command);
  }
  return v;
}

/** `--fencing-token LOCK:TOKEN` (the last ':' splits, as the members read it). */
function fencingTokenOf(v: string | undefined, command: string): string | null {
  if (v === undefined) return null;
  const at = v.lastIndexOf(':');
  if (at <= 0 || !/^(0|[1-9][0-9]{0,15})$/.test(v.slice(at + 1))) {
    throw new UsageError('--fencing-token must be LOCK:TOKEN, as `raftctl lock acquire` prints it (fencing-token=...)', command);
  }
  if (Buffer.byteLength(v.slice(0, at), 'utf8') > CLI_LIMITS.maxLockNameBytes) throw new UsageError('--fencing-token: lock name too long', command);
  return v;
}

const WRITE_VALUED = ['--idempotency-key'] as const;
const WRITE_BOOLS = ['--retry'] as const;
const KEY_WRITE_VALUED = ['--if-match', '--fencing-token', ...WRITE_VALUED] as const;

function writeOptions(f: { values: Map<string, string>; flags: Set<string> }, command: string): WriteOptions {
  return { idempotencyKey: idempotencyKeyOf(f.values.get('--idempotency-key'), command), retry: f.flags.has('--retry') };
}

function keyConditions(f: { values: Map<string, string> }, command: string): KeyConditions {
  const m = f.values.get('--if-match');
  return {
    ifMatch: m === undefined ? null : positiveInt(m, '--if-match', Number.MAX_SAFE_INTEGER, command),
    fencingToken: fencingTokenOf(f.values.get('--fencing-token'), command),
  };
}

function parseCommand(argv: readonly string[]): Command {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case undefined:
      throw new UsageError('no command given');
    case 'help': {
      const topic = args[0] ?? null;
      if (topic !== null && commandHelp(topic) === undefined) throw new UsageError(`no such command: ${topic}`);
      return { kind: 'help', topic };
    }
    case 'version':
      exactly(args, 0, 'version');
      return { kind: 'version' };
    case 'completion': {
      exactly(args, 1, 'completion');
      const shell = args[0] as string;
      if (!(COMPLETION_SHELLS as readonly string[]).includes(shell)) throw new UsageError(`completion: unsupported shell '${shell}' (bash or zsh)`, 'completion');
      return { kind: 'completion', shell: shell as CompletionShell };
    }
    case 'bench':
      return { kind: 'bench', argv: args };
    case 'put': {
      const f = takeFlags('put', args, KEY_WRITE_VALUED, WRITE_BOOLS);
      exactly(f.rest, 2, 'put');
      return { kind: 'put', key: f.rest[0] as string, value: f.rest[1] as string, ...keyConditions(f, 'put'), ...writeOptions(f, 'put') };
    }
    case 'get': {
      const f = takeFlags('get', args, [], ['--serializable']);
      exactly(f.rest, 1, 'get');
      return { kind: 'get', key: f.rest[0] as string, serializable: f.flags.has('--serializable') };
    }
    case 'del':
    case 'delete': {
      const f = takeFlags('del', args, KEY_WRITE_VALUED, WRITE_BOOLS);
      exactly(f.rest, 1, 'del');
      return { kind: 'del', key: f.rest[0] as string, ...keyConditions(f, 'del'), ...writeOptions(f, 'del') };
    }
    case 'list': {
      const f = takeFlags('list', args, ['--limit'], []);
      if (f.rest.length > 1) throw new UsageError(`unexpected argument '${f.rest[1] ?? ''}'`, 'list');
      const limitText = f.values.get('--limit');
      const limit = limitText === undefined ? null : positiveInt(limitText, '--limit', CLI_LIMITS.maxListLimit, 'list');
      if (limit === 0) throw new UsageError('--limit must be >= 1', 'list');
      return { kind: 'list', prefix: f.rest[0] ?? '', limit };
    }
    case 'watch': {
      const f = takeFlags('watch', args, ['--from-revision'], ['--all']);
      if (f.rest.length > 1) throw new UsageError(`unexpected argument '${f.rest[1] ?? ''}'`, 'watch');
      const all = f.flags.has('--all');
      const prefix = f.rest[0];
      // etcdctl's habit: watching everything is asked for explicitly, never by forgetting the prefix.
      if (all && prefix !== undefined) throw new UsageError('give a PREFIX or --all, not both', 'watch');
      if (!all && (prefix === undefined || prefix === '')) throw new UsageError('watch needs a PREFIX (or --all for every key)', 'watch');
      const r = f.values.get('--from-revision');
      return { kind: 'watch', prefix: prefix ?? '', fromRevision: r === undefined ? null : positiveInt(r, '--from-revision', Number.MAX_SAFE_INTEGER, 'watch') };
    }
    case 'status':
      exactly(args, 0, 'status');
      return { kind: 'status' };
    case 'members': {
      const [sub, ...rest] = args;
      switch (sub) {
        case 'list':
        case undefined:
          exactly(rest, 0, 'members');
          return { kind: 'members-list' };
        case 'add':
          if (rest.length !== 2 && rest.length !== 3) throw new UsageError('members add needs NAME PEER_URL CLIENT_URL', 'members');
          return { kind: 'members-add', name: rest[0] as string, peerUrl: rest[1] as string, clientUrl: rest[2] ?? '' };
        case 'promote':
          exactly(rest, 1, 'members');
          return { kind: 'members-promote', name: rest[0] as string };
        case 'remove':
          exactly(rest, 1, 'members');
          return { kind: 'members-remove', name: rest[0] as string };
        default:
          throw new UsageError(`unknown members subcommand: ${sub}`, 'members');
      }
    }
    case 'leader': {
      const [sub, ...rest] = args;
      if (sub !== 'transfer') throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown leader subcommand: ${sub}`, 'leader');
      if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1] ?? ''}'`, 'leader');
      return { kind: 'leader-transfer', to: rest[0] ?? null };
    }
    case 'snapshot': {
      if (isSnapshotUrlCommand(args)) {
        try {
          return { kind: 'snapshot-url', action: parseSnapshotUrlCommand(args) };
        } catch (err) {
          throw err instanceof SnapshotUrlArgsError ? new UsageError(err.message, 'snapshot') : err;
        }
      }
      if (args[0] === 'save') {
        const f = takeFlags('snapshot', args.slice(1), ['--dir', '--keep'], ['--serializable']);
        const serializable = f.flags.has('--serializable');
        const dir = f.values.get('--dir');
        const keepText = f.values.get('--keep');
        if (dir === undefined) {
          if (keepText !== undefined) throw new UsageError('--keep needs --dir (it prunes a backup directory)', 'snapshot');
          exactly(f.rest, 1, 'snapshot');
          return { kind: 'snapshot-save', file: f.rest[0] as string, serializable };
        }
        if (dir === '') throw new UsageError('--dir must not be empty', 'snapshot');
        if (f.rest.length !== 0) throw new UsageError('no FILE with --dir', 'snapshot');
        const keep = keepText === undefined ? null : positiveInt(keepText, '--keep', MAX_KEEP, 'snapshot');
        if (keep === 0) throw new UsageError(`--keep must be 1..${MAX_KEEP}`, 'snapshot');
        return { kind: 'snapshot-save-dir', dir, keep, serializable };
      }
      exactly(args, 0, 'snapshot');
      return { kind: 'snapshot' };
    }
    case 'lock': {
      const [sub, ...rest] = args;
      const f = takeFlags('lock', rest, WRITE_VALUED, WRITE_BOOLS);
      if (sub === 'acquire') {
        exactly(f.rest, 3, 'lock');
        return { kind: 'lock-acquire', name: f.rest[0] as string, owner: f.rest[1] as string, ttlMs: positiveInt(f.rest[2], 'TTL_MS', 24 * 60 * 60 * 1000, 'lock'), ...writeOptions(f, 'lock') };
      }
      if (sub === 'release') {
        exactly(f.rest, 2, 'lock');
        return { kind: 'lock-release', name: f.rest[0] as string, token: positiveInt(f.rest[1], 'TOKEN', Number.MAX_SAFE_INTEGER, 'lock'), ...writeOptions(f, 'lock') };
      }
      throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown lock subcommand: ${sub}`, 'lock');
    }
    case 'txn': {
      const f = takeFlags('txn', args, WRITE_VALUED, WRITE_BOOLS);
      exactly(f.rest, 1, 'txn');
      return { kind: 'txn', file: f.rest[0] as string, ...writeOptions(f, 'txn') };
    }
    default:
      throw new UsageError(`unknown command: ${cmd}`);
  }
}

/** Global flags that take a value; they may come before or after the command (as etcdctl's). */
const VALUED_GLOBALS: readonly string[] = ['--endpoints', '--endpoint', '--timeout', '--timeout-ms', '-w', '--write-out', '--token', '--token-file', '--cacert', '--cert', '--key'];

/** The global flags found in a command line, in order, and the command's own words. */
interface SplitArgs {
  readonly globals: [string, string][];
  readonly argv: string[];
  readonly help: boolean;
  readonly version: boolean;
}

/**
 * Separates global flags from the command and its arguments. Before the command anything that
 * starts with `-` must be a global flag; after it, global flags are taken out wherever they are
 * and everything else is left to the command (`--` ends flag processing; `bench` reads its own).
 */
function splitGlobals(all: readonly string[]): SplitArgs {
  const globals: [string, string][] = [];
  const argv: string[] = [];
  let help = false;
  let version = false;
  let commandSeen = false;
  for (let i = 0; i < all.length; i++) {
    const a = all[i] as string;
    if (a === '--') {
      argv.push(...all.slice(i));
      break;
    }
    if (commandSeen && argv[0] === 'bench') {
      argv.push(a);
      continue;
    }
    if (a === '-h' || a === '--help') {
      help = true;
      continue;
    }
    if (a === '--version' && !commandSeen) {
      version = true;
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq === -1 ? a : a.slice(0, eq);
    if (a.startsWith('-') && VALUED_GLOBALS.includes(name)) {
      const v = eq === -1 ? all[++i] : a.slice(eq + 1);
      if (v === undefined) throw new UsageError(`${name} needs a value${name === '-w' || name === '--write-out' ? ' (simple, json or table)' : ''}`, commandSeen ? (argv[0] ?? null) : null);
      globals.push([name, v]);
      continue;
    }
    if (!commandSeen && a.startsWith('-') && a !== '-') throw new UsageError(`unknown flag: ${name}`);
    commandSeen = true;
    argv.push(a);
  }
  return { globals, argv, help, version };
}

function outputOf(text: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(text)) throw new UsageError(`-w must be simple, json or table (got '${text}')`);
  return text as OutputFormat;
}

/**
 * Parses raftctl's argv (without node and the script). Global flags may come before or after
 * the command. Throws UsageError on anything it cannot run.
 */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedArgs {
  let endpoints: string[] | null = null;
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  let output: OutputFormat = 'simple';
  const given = new Map<string, string>();
  const split = splitGlobals(argv);
  for (const [name, value] of split.globals) {
    if (name === '--endpoints' || name === '--endpoint') endpoints = parseEndpoints(value);
    else if (name === '--timeout-ms') {
      timeoutMs = positiveInt(value, '--timeout-ms', CLI_LIMITS.maxTimeoutMs);
      if (timeoutMs === 0) throw new UsageError('--timeout-ms must be > 0');
    } else if (name === '--timeout') timeoutMs = parseDuration(value, '--timeout');
    else if (name === '--write-out' || name === '-w') output = outputOf(value);
    else {
      if (value === '') throw new UsageError(`${name} must not be empty`);
      given.set(name, value);
    }
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
  const options: GlobalOptions = { endpoints, endpointsGiven, timeoutMs, output, token, tokenFile, tls };
  const first = split.argv[0];
  if (split.help) {
    // `raftctl put --help` and `raftctl --help put` both show put's help.
    if (first === 'bench') return { options, command: { kind: 'bench', argv: ['--help'] } };
    const topic = first !== undefined && first !== 'help' && commandHelp(first) !== undefined ? first : null;
    return { options, command: { kind: 'help', topic } };
  }
  if (split.version && first === undefined) return { options, command: { kind: 'version' } };
  return { options, command: parseCommand(split.argv) };
}
