// `raftkv restore --from FILE --data-dir DIR --name N --initial-cluster n1=h:p,... [--cluster-token T]
//   [--skip-if-initialized] [--initial-cluster-state new|existing]`:
// builds a fresh data dir for one member of a NEW cluster from a `raftctl snapshot save` file
// (server/recovery.ts). Run it once per member, with the same file and --initial-cluster; then
// start each member with its usual flags (the same --name, --data-dir, --cluster-token).
// --skip-if-initialized makes it safe to run on every pod start (the operator's init container):
// it then restores only into an empty or absent data dir of a bootstrap member and otherwise exits
// 0 without touching anything (see restoreSkipReason).
// Exit codes as the daemon: 0 done (or skipped), 1 failure, 2 bad flags. Prints one JSON line on success.
import { existsSync, readdirSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { FlagError, parseInitialCluster } from '../config/flags.js';
import type { InitialPeer } from '../config/flags.js';
import { restoreDataDir } from '../server/recovery.js';
import { LocationError } from '../backup/location.js';
import { S3OptionsError, S3_FLAGS, s3OptionsFrom } from '../backup/s3-options.js';
import { withLocalBackup } from '../backup/restore-source.js';
import type { RestoreTarget } from '../backup/point-in-time.js';

export const RESTORE_USAGE = 'usage: raftkv restore --from FILE|s3://BUCKET/PREFIX/[OBJECT]|file://DIR/[OBJECT] [--to-revision R | --to-time T] [--s3-endpoint URL] [--s3-region R] [--s3-path-style B] [--s3-ca-file F] --data-dir DIR --name NAME --initial-cluster n1=host:port,... [--cluster-token TOKEN] [--skip-if-initialized] [--initial-cluster-state new|existing]';

/** `raftkv restore --help`. */
export const RESTORE_HELP = `${RESTORE_USAGE}

Builds the data dir of one member of a NEW cluster from a backup taken with
\`raftctl snapshot save\`. Run it once per member with the same FILE and --initial-cluster, then
start each member with its usual flags (the same --name, --data-dir and --cluster-token).

  --from FILE|URL             the backup: a file, s3://BUCKET/PREFIX/OBJECT or file://DIR/OBJECT, or
                              s3://BUCKET/PREFIX/ (file://DIR/) for the newest there; its checksum
                              is verified first (an S3 object's recorded SHA-256 too). A prefix
                              the log was shipped to (raftkv --backup-ship-to) restores the latest
                              shipped state: its newest snapshot plus the log after it
  --to-revision R             point-in-time: the exact state at KV revision R (the newest snapshot
                              at or before R plus the shipped log up to R); --from is the prefix
  --to-time T                 point-in-time: the state after the last write proposed at or before
                              T (RFC 3339, e.g. 2026-12-05T02:30:00Z, or ms since the epoch)
  --s3-endpoint URL, --s3-region R, --s3-path-style B, --s3-ca-file F
                              for s3:// (defaults: the standard AWS environment; docs/security.md)
  --data-dir DIR              the member's data dir: absent or empty
  --name NAME                 this member's name, one of --initial-cluster
  --initial-cluster n1=h:p,.. the new cluster's voters
  --cluster-token TOKEN       the new cluster's token (default raftkv)
  --skip-if-initialized       exit 0 untouched when DIR holds data or the member joins (init containers)
  --initial-cluster-state S   new (default) or existing; existing never restores (with --skip-if-initialized)
Each flag is also read from RAFTKV_<FLAG> (e.g. RAFTKV_DATA_DIR); flags win.
Prints one JSON line on success. Exit codes: 0 done (or skipped), 1 failure, 2 bad flags.`;

const FLAGS = ['from', 'to-revision', 'to-time', 'data-dir', 'name', 'initial-cluster', 'cluster-token', 'initial-cluster-state', ...S3_FLAGS.map((f) => f.slice(2) as `s3-${string}`)] as const;
type RestoreFlag = (typeof FLAGS)[number];
/** Flags without a value. */
const BOOL_FLAGS = ['skip-if-initialized'] as const;

/** Parsed restore flags (env RAFTKV_<FLAG> as for the daemon; flags win). */
export interface RestoreArgs {
  readonly from: string;
  readonly dataDir: string;
  readonly name: string;
  readonly initialCluster: readonly InitialPeer[];
  readonly clusterToken: string;
  /** Restore only when there is something to restore into; otherwise exit 0 untouched. */
  readonly skipIfInitialized: boolean;
  /** The state the member would start with; `existing` (a joining member) never restores. Only read with skipIfInitialized. */
  readonly initialClusterState: 'new' | 'existing';
  /** --s3-* flags (or RAFTKV_S3_*) for an s3:// --from, keyed as in S3_FLAGS. */
  readonly s3Flags: ReadonlyMap<string, string>;
  /** --to-revision / --to-time; null: the backup as saved (or the latest shipped state of a prefix). */
  readonly target: RestoreTarget | null;
}

/** Parses --to-time: RFC 3339 with a zone, or ms since the epoch. */
export function parseTimeMs(text: string): number {
  if (/^[0-9]{1,16}$/.test(text)) return Number(text);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) throw new FlagError(`--to-time: expected RFC 3339 with a zone (2026-12-05T02:30:00Z) or ms since the epoch, got '${text}'`);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new FlagError(`--to-time: not a valid time '${text}'`);
  return ms;
}

/** Parses `restore`'s arguments (without the word `restore`). Throws FlagError. */
export function parseRestoreArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): RestoreArgs {
  const given = new Map<RestoreFlag, string>();
  const bools = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) throw new FlagError(`unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
    if ((BOOL_FLAGS as readonly string[]).includes(name)) {
      if (eq !== -1) throw new FlagError(`--${name} takes no value`);
      bools.add(name);
      continue;
    }
    if (!(FLAGS as readonly string[]).includes(name)) throw new FlagError(`restore: unknown flag '--${name}'`);
    const v = eq === -1 ? argv[++i] : a.slice(eq + 1);
    if (v === undefined || v === '') throw new FlagError(`--${name} needs a value`);
    given.set(name as RestoreFlag, v);
  }
  const get = (f: RestoreFlag): string | undefined => given.get(f) ?? env[`RAFTKV_${f.toUpperCase().replace(/-/g, '_')}`];
  const need = (f: RestoreFlag): string => {
    const v = get(f);
    if (v === undefined || v === '') throw new FlagError(`restore: --${f} is required`);
    return v;
  };
  const state = get('initial-cluster-state') ?? 'new';
  if (state !== 'new' && state !== 'existing') throw new FlagError(`--initial-cluster-state: expected new or existing, got '${state}'`);
  const toRevision = get('to-revision');
  const toTime = get('to-time');
  if (toRevision !== undefined && toTime !== undefined) throw new FlagError('give --to-revision or --to-time, not both');
  if (toRevision !== undefined && !/^[0-9]{1,15}$/.test(toRevision)) throw new FlagError(`--to-revision: expected a revision (a whole number), got '${toRevision}'`);
  const target: RestoreTarget | null = toRevision !== undefined ? { kind: 'revision', revision: Number(toRevision) } : toTime !== undefined ? { kind: 'time', timeMs: parseTimeMs(toTime) } : null;
  const from = need('from');
  if (target !== null && !/^(s3|file):\/\/.*\/$/i.test(from)) throw new FlagError(`--to-revision and --to-time need --from to be the backup prefix the log was shipped to (s3://BUCKET/PREFIX/ or file://DIR/, ending in /), got '${from}'`);
  return {
    target,
    from,
    dataDir: need('data-dir'),
    name: need('name'),
    initialCluster: parseInitialCluster(need('initial-cluster')),
    clusterToken: get('cluster-token') ?? 'raftkv',
    skipIfInitialized: bools.has('skip-if-initialized'),
    initialClusterState: state,
    s3Flags: new Map(S3_FLAGS.flatMap((f) => {
      const v = get(f.slice(2) as RestoreFlag);
      return v === undefined || v === '' ? [] : [[f, v] as const];
    })),
  };
}

/**
 * Why a --skip-if-initialized restore does nothing, or null when it should restore. Pure:
 * `dataDirEntries` is the number of entries in --data-dir, null when it does not exist.
 *  - `existing`: the member joins a running cluster (added as a learner) and catches up from the
 *    leader; restoring would make it a bootstrap voter of a cluster of its own;
 *  - not named in --initial-cluster: the same (a scale-up member);
 *  - a non-empty data dir: the member already has state (restored before, or its own data);
 *    a restart must resume it, never replace it.
 */
export function restoreSkipReason(args: RestoreArgs, dataDirEntries: number | null): string | null {
  if (args.initialClusterState === 'existing') return 'joining member (--initial-cluster-state existing): it starts empty and catches up from the leader';
  if (!args.initialCluster.some((p) => p.name === args.name)) return `not a bootstrap member (--initial-cluster does not name '${args.name}'): it joins empty`;
  if (dataDirEntries !== null && dataDirEntries > 0) return 'data dir already initialised: left untouched';
  return null;
}

/** Runs `raftkv restore`; resolves with the exit code. */
export async function runRestore(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, out: Writable, err: Writable): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out.write(`${RESTORE_HELP}\n`);
    return 0;
  }
  let args: RestoreArgs;
  try {
    args = parseRestoreArgs(argv, env);
  } catch (e) {
    if (e instanceof FlagError) {
      err.write(`raftkv: ${e.message}\n${RESTORE_USAGE}\n`);
      return 2;
    }
    throw e;
  }
  try {
    if (args.skipIfInitialized) {
      const why = restoreSkipReason(args, existsSync(args.dataDir) ? readdirSync(args.dataDir).length : null);
      if (why !== null) {
        out.write(`${JSON.stringify({ restored: false, member: args.name, dataDir: args.dataDir, reason: why })}\n`);
        return 0;
      }
    }
    const s3 = s3OptionsFrom(args.s3Flags, env);
    const t0 = performance.now();
    const { r, fetched } = await withLocalBackup(args.from, args.dataDir, s3, async (file, f) => ({ r: await restoreDataDir({ ...args, from: file }), fetched: f }), args.target);
    const b = fetched?.backup ?? null;
    const pit = fetched?.pointInTime ?? null;
    out.write(`${JSON.stringify({
      restored: true, member: args.name, dataDir: r.dataDir, voters: r.voters, index: r.header.index, term: r.header.term,
      revision: r.header.revision, keys: r.header.keys, sha256: r.sha256, durationMs: r.durationMs,
      ...(b !== null ? { source: b.url, bytes: b.bytes, downloadMs: b.ms, metadataChecksumVerified: b.metadataChecked } : {}),
      ...(pit !== null ? { source: args.from, pointInTime: { base: pit.base, baseRevision: pit.baseRevision, segmentsRead: pit.segmentsRead, entriesReplayed: pit.entriesReplayed, logEndRevision: pit.logEndRevision, logEndIndex: pit.logEndIndex, buildMs: pit.ms } } : {}),
      ...(fetched !== null ? { totalMs: Math.round(performance.now() - t0) } : {}),
    })}\n`);
    return 0;
  } catch (e) {
    if (e instanceof S3OptionsError || e instanceof LocationError) {
      err.write(`raftkv: ${e.message}\n${RESTORE_USAGE}\n`);
      return 2;
    }
    err.write(`raftkv: restore failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
