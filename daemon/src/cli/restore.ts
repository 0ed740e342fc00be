// `raftkv restore --from FILE --data-dir DIR --name N --initial-cluster n1=h:p,... [--cluster-token T]`:
// builds a fresh data dir for one member of a NEW cluster from a `raftctl snapshot save` file
// (server/recovery.ts). Run it once per member, with the same file and --initial-cluster; then
// start each member with its usual flags (the same --name, --data-dir, --cluster-token).
// Exit codes as the daemon: 0 done, 1 failure, 2 bad flags. Prints one JSON line on success.
import type { Writable } from 'node:stream';
import { FlagError, parseInitialCluster } from '../config/flags.js';
import type { InitialPeer } from '../config/flags.js';
import { restoreDataDir } from '../server/recovery.js';

export const RESTORE_USAGE = 'usage: raftkv restore --from FILE --data-dir DIR --name NAME --initial-cluster n1=host:port,... [--cluster-token TOKEN]';

const FLAGS = ['from', 'data-dir', 'name', 'initial-cluster', 'cluster-token'] as const;
type RestoreFlag = (typeof FLAGS)[number];

/** Parsed restore flags (env RAFTKV_<FLAG> as for the daemon; flags win). */
export interface RestoreArgs {
  readonly from: string;
  readonly dataDir: string;
  readonly name: string;
  readonly initialCluster: readonly InitialPeer[];
  readonly clusterToken: string;
}

/** Parses `restore`'s arguments (without the word `restore`). Throws FlagError. */
export function parseRestoreArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): RestoreArgs {
  const given = new Map<RestoreFlag, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) throw new FlagError(`unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
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
  return {
    from: need('from'),
    dataDir: need('data-dir'),
    name: need('name'),
    initialCluster: parseInitialCluster(need('initial-cluster')),
    clusterToken: get('cluster-token') ?? 'raftkv',
  };
}

/** Runs `raftkv restore`; resolves with the exit code. */
export async function runRestore(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, out: Writable, err: Writable): Promise<number> {
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
    const r = await restoreDataDir(args);
    out.write(`${JSON.stringify({
      restored: true, member: args.name, dataDir: r.dataDir, voters: r.voters, index: r.header.index, term: r.header.term,
      revision: r.header.revision, keys: r.header.keys, sha256: r.sha256, durationMs: r.durationMs,
    })}\n`);
    return 0;
  } catch (e) {
    err.write(`raftkv: restore failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
