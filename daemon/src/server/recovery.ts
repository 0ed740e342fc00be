// Disaster recovery, done on the data dir before the member starts:
//  - restoreDataDir: a fresh data dir for one member of a NEW cluster from a backup file
//    (`raftkv restore`). Every member restored from the same file starts from the same raft
//    snapshot, so the new cluster serves exactly the saved data at the saved revision.
//  - forceNewCluster: a surviving member's data dir rewritten so that it is the only voter
//    (`raftkv --force-new-cluster`), keeping all the data it holds.
// Both write one raft snapshot (KV image + address book, with the new configuration) that
// replaces the stored log, and a hard state committing it. The raft core then starts as it does
// after any log compaction; nothing in the core or the driver knows about recovery.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ConfState, Entry, HardState } from '../raft/types.js';
import { EntryType } from '../raft/types.js';
import type { LoadedRaftState, RaftStorage, StoredSnapshot } from '../storage/types.js';
import { RocksRaftStorage } from '../storage/rocks-raft-storage.js';
import { KvStateMachine } from '../kv/index.js';
import type { DaemonConfig, InitialPeer } from '../config/flags.js';
import { AddressBook } from './address-book.js';
import { BootstrapError, META_KEYS, planStart } from './bootstrap.js';
import type { BootstrapRecord } from './bootstrap.js';
import { decodeBackup } from './backup-file.js';
import type { BackupHeader } from './backup-file.js';
import { isDriverEntry } from './driver-entries.js';
import { decodeSnapshot, encodeSnapshot } from './snapshot-envelope.js';

/** Logger subset. */
export interface RecoveryLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
}

/** Applies log entries to the KV machine exactly as the driver does (server.ts applyEntries). */
function applyToKv(kv: KvStateMachine, entries: readonly Entry[]): void {
  for (const e of entries) {
    if (e.index <= kv.appliedIndex) continue;
    if (e.index !== kv.appliedIndex + 1) throw new BootstrapError(`log gap at ${e.index} (applied ${kv.appliedIndex}); cannot rebuild the state`);
    if (e.type === EntryType.Normal && !isDriverEntry(e.data)) kv.apply(e.index, e.term, e.data);
    else kv.applyNoop(e.index, e.term);
  }
}

/** What --force-new-cluster changed (logged, and returned for tests). */
export interface ForceNewClusterReport {
  readonly index: number;
  readonly term: number;
  readonly revision: number;
  readonly previousVoters: readonly string[];
  readonly previousLearners: readonly string[];
  /** Entries the member held beyond the commit index it knew; kept (they may or may not have been acknowledged). */
  readonly uncommittedKept: number;
}

/**
 * Rewrites a survivor's state so it is the only voter, keeping every entry it holds (as etcd's
 * --force-new-cluster does: entries past the known commit index were perhaps acknowledged by
 * the old leader, so dropping them could lose acknowledged writes; keeping them may resurrect a
 * write whose client saw a failure — the documented risk). Returns the state to start from.
 */
export async function forceNewCluster(storage: RaftStorage, loaded: LoadedRaftState, config: DaemonConfig, log: RecoveryLogger): Promise<{ loaded: LoadedRaftState; report: ForceNewClusterReport }> {
  if (loaded.meta[META_KEYS.bootstrap] === undefined) throw new BootstrapError('--force-new-cluster needs the data dir of an existing member; this one is empty');
  // The usual identity checks (member name, cluster token) and the current configuration.
  const plan = planStart(config, loaded);
  const previous = plan.confState;
  const kv = new KvStateMachine();
  if (loaded.snapshot && loaded.snapshot.data.length > 0) kv.restore(decodeSnapshot(loaded.snapshot.data).kvImage);
  applyToKv(kv, loaded.entries);
  const last = loaded.entries[loaded.entries.length - 1];
  const index = last?.index ?? loaded.snapshot?.meta.index ?? 0;
  const term = last?.term ?? loaded.snapshot?.meta.term ?? 0;
  if (index === 0) throw new BootstrapError('--force-new-cluster: this member never applied an entry; there is nothing to keep (start a new cluster instead)');
  if (kv.appliedIndex !== index) throw new BootstrapError(`--force-new-cluster: rebuilt state ends at ${kv.appliedIndex}, the log at ${index}`);
  const book = new AddressBook();
  book.set({ name: config.name, peerAddress: config.advertisePeer, clientUrl: config.advertiseClientUrl });
  const confState: ConfState = { voters: [config.name], learners: [] };
  const snapshot: StoredSnapshot = { meta: { index, term, confState }, data: encodeSnapshot({ membersJson: book.toJson(), kvImage: kv.snapshot() }) };
  const hardState: HardState = { term: Math.max(loaded.hardState.term, term), vote: loaded.hardState.vote, commit: index };
  await storage.persist({ snapshot, hardState, entries: [] });
  const report: ForceNewClusterReport = {
    index, term, revision: kv.revision, previousVoters: previous.voters, previousLearners: previous.learners,
    uncommittedKept: Math.max(0, index - loaded.hardState.commit),
  };
  log.warn({ ...report }, 'FORCE NEW CLUSTER: membership rewritten to this member alone, data kept; restart WITHOUT --force-new-cluster from now on, and add new members with POST /v1/members');
  return { loaded: { hardState, snapshot, entries: [], meta: loaded.meta }, report };
}

/** Storage meta key holding the last --force-new-cluster-id this data dir carried out. */
export const FORCE_NEW_CLUSTER_ID_META = 'raftkv.forceNewClusterId';

/**
 * Whether this start rewrites the membership: --force-new-cluster always; --force-new-cluster-id
 * only on the member it names (all members when it names none), and only when the data dir has
 * not carried out that id already.
 */
export function forceNewClusterWanted(config: Pick<DaemonConfig, 'name' | 'forceNewCluster' | 'forceNewClusterOnce'>, meta: Readonly<Record<string, string>>): boolean {
  if (config.forceNewCluster) return true;
  const once = config.forceNewClusterOnce;
  if (once === null || (once.member !== null && once.member !== config.name)) return false;
  return meta[FORCE_NEW_CLUSTER_ID_META] !== once.id;
}

/**
 * Applies --force-new-cluster / --force-new-cluster-id before the member starts. The id is
 * recorded after the rewrite: a crash in between repeats the rewrite on the next start, which
 * is harmless (the membership is this member alone already and the data is kept).
 */
export async function forceNewClusterIfAsked(storage: RaftStorage, loaded: LoadedRaftState, config: DaemonConfig, log: RecoveryLogger): Promise<LoadedRaftState> {
  const once = config.forceNewClusterOnce;
  if (!forceNewClusterWanted(config, loaded.meta)) {
    if (once !== null && (once.member === null || once.member === config.name)) log.info({ id: once.id }, '--force-new-cluster-id already carried out by this data dir; starting normally');
    return loaded;
  }
  const forced = (await forceNewCluster(storage, loaded, config, log)).loaded;
  if (once === null) return forced;
  await storage.putMeta(FORCE_NEW_CLUSTER_ID_META, once.id);
  return { ...forced, meta: { ...forced.meta, [FORCE_NEW_CLUSTER_ID_META]: once.id } };
}

/** `raftkv restore` inputs. */
export interface RestoreOptions {
  readonly from: string;
  readonly dataDir: string;
  readonly name: string;
  readonly initialCluster: readonly InitialPeer[];
  readonly clusterToken: string;
}

/** What a restore wrote (printed by `raftkv restore`). */
export interface RestoreReport {
  readonly header: BackupHeader;
  readonly sha256: string;
  readonly dataDir: string;
  readonly voters: readonly string[];
  readonly durationMs: number;
}

/** Where restoreDataDir builds a data dir before renaming it to `dataDir` (a sibling: same filesystem). */
export function stagingDirOf(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, '')}.restoring`;
}

/** Renames the built dir onto `dataDir` (absent or empty) and fsyncs the parent so the rename is durable. */
function moveIntoPlace(staging: string, dataDir: string): void {
  try {
    if (existsSync(dataDir)) rmdirSync(dataDir);
    renameSync(staging, dataDir);
  } catch (err) {
    throw new BootstrapError(`cannot move the restored data dir ${staging} to ${dataDir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const fd = openSync(dirname(dataDir), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Builds a fresh data dir for member `name` of a new cluster whose voters are `initialCluster`,
 * holding the backup's data at the backup's index and revision. The dir must not hold anything.
 * Run it for every member of the new cluster (same file, same --initial-cluster), then start the
 * members with their usual flags; --initial-cluster* are ignored from then on, as for any
 * initialised data dir.
 */
export async function restoreDataDir(o: RestoreOptions): Promise<RestoreReport> {
  const t0 = performance.now();
  if (!o.initialCluster.some((p) => p.name === o.name)) throw new BootstrapError(`--initial-cluster does not name this member ('${o.name}')`);
  let file: Buffer;
  try {
    file = readFileSync(o.from);
  } catch (err) {
    throw new BootstrapError(`cannot read ${o.from}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { header, image, sha256 } = decodeBackup(file);
  const kv = new KvStateMachine();
  kv.restore(image);
  if (kv.appliedIndex !== header.index || kv.revision !== header.revision) {
    throw new BootstrapError(`backup header says index ${header.index} revision ${header.revision}, its image ${kv.appliedIndex} / ${kv.revision}`);
  }
  if (header.index === 0) throw new BootstrapError('the backup holds no applied entry; start a new cluster instead');
  if (existsSync(o.dataDir) && readdirSync(o.dataDir).length > 0) throw new BootstrapError(`--data-dir ${o.dataDir} is not empty; restore only builds fresh data dirs`);
  // Build the data dir under a sibling name and rename it into place, so a restore that dies
  // midway never leaves a half-built dir under --data-dir (where `--skip-if-initialized` would
  // take it for an initialised member). A --data-dir that is itself a mount point cannot be
  // replaced by a rename; it is built in place as before.
  const staging = stagingDirOf(o.dataDir);
  let buildDir = o.dataDir;
  const isMountPoint = existsSync(o.dataDir) && statSync(o.dataDir).dev !== statSync(dirname(o.dataDir)).dev;
  if (!isMountPoint) {
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    buildDir = staging;
  } else mkdirSync(o.dataDir, { recursive: true });
  const book = new AddressBook();
  for (const p of o.initialCluster) book.set({ name: p.name, peerAddress: p.peerAddress, clientUrl: '' });
  const confState: ConfState = { voters: o.initialCluster.map((p) => p.name), learners: [] };
  const storage = new RocksRaftStorage(buildDir);
  try {
    const loaded = await storage.load();
    if (loaded.snapshot !== null || loaded.entries.length > 0 || Object.keys(loaded.meta).length > 0) throw new BootstrapError(`--data-dir ${o.dataDir} already holds raft state`);
    const record: BootstrapRecord = { v: 1, name: o.name, clusterToken: o.clusterToken, state: 'new', confState, membersJson: book.toJson() };
    await storage.putMeta(META_KEYS.bootstrap, JSON.stringify(record));
    const snapshot: StoredSnapshot = { meta: { index: header.index, term: header.term, confState }, data: encodeSnapshot({ membersJson: book.toJson(), kvImage: image }) };
    await storage.persist({ snapshot, hardState: { term: header.term, vote: '', commit: header.index }, entries: [] });
  } finally {
    await storage.close();
  }
  if (buildDir === staging) moveIntoPlace(staging, o.dataDir);
  return { header, sha256, dataDir: o.dataDir, voters: confState.voters, durationMs: Math.round(performance.now() - t0) };
}
