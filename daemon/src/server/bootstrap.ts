// How a member starts from what is on disk: a brand-new data dir bootstraps from the flags
// (and records that, so later starts ignore --initial-cluster*), an initialised one resumes.
import type { ConfState, RaftInitialState, SnapshotMeta } from '../raft/types.js';
import type { LoadedRaftState, StoredSnapshot } from '../storage/types.js';
import type { DaemonConfig } from '../config/flags.js';
import { AddressBook } from './address-book.js';
import { decodeSnapshot } from './snapshot-envelope.js';

/** Storage meta keys the daemon owns. */
export const META_KEYS = {
  /** JSON `BootstrapRecord`, written once when a data dir is first used. */
  bootstrap: 'raftkv.bootstrap',
} as const;

/** What a member recorded about its own birth. */
export interface BootstrapRecord {
  readonly v: 1;
  readonly name: string;
  readonly clusterToken: string;
  readonly state: 'new' | 'existing';
  /** The configuration at index 0: the initial voters for `new`, empty for `existing`. */
  readonly confState: ConfState;
  /** AddressBook.toJson() at bootstrap (peer addresses from --initial-cluster, own client URL). */
  readonly membersJson: string;
}

/** Everything the driver needs to start, derived from disk (and flags on first start). */
export interface StartState {
  readonly initialState: RaftInitialState;
  readonly addressBook: AddressBook;
  /** The configuration at the snapshot index (the driver replays conf changes after it). */
  readonly confState: ConfState;
  readonly snapshot: StoredSnapshot | null;
  /** Set when the data dir was new: write it with storage.putMeta before the first Ready. */
  readonly newBootstrap: BootstrapRecord | null;
  readonly resumed: boolean;
}

/** Refusal to start with this data dir (exit 1 with the message). */
export class BootstrapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BootstrapError';
  }
}

function isFresh(loaded: LoadedRaftState): boolean {
  return loaded.snapshot === null && loaded.entries.length === 0 && loaded.hardState.term === 0 && loaded.meta[META_KEYS.bootstrap] === undefined;
}

/** Decides the start state. Pure apart from reading `loaded`. */
export function planStart(config: DaemonConfig, loaded: LoadedRaftState): StartState {
  const book = new AddressBook();
  if (isFresh(loaded)) {
    for (const p of config.initialCluster) book.set({ name: p.name, peerAddress: p.peerAddress, clientUrl: '' });
    book.set({ name: config.name, peerAddress: config.advertisePeer, clientUrl: config.advertiseClientUrl });
    const confState: ConfState = config.initialClusterState === 'new'
      ? { voters: config.initialCluster.map((p) => p.name), learners: [] }
      : { voters: [], learners: [] };
    const record: BootstrapRecord = {
      v: 1, name: config.name, clusterToken: config.clusterToken, state: config.initialClusterState, confState, membersJson: book.toJson(),
    };
    const meta: SnapshotMeta = { index: 0, term: 0, confState };
    return {
      initialState: { hardState: { term: 0, vote: '', commit: 0 }, snapshot: meta, entries: [] },
      addressBook: book, confState, snapshot: null, newBootstrap: record, resumed: false,
    };
  }
  const raw = loaded.meta[META_KEYS.bootstrap];
  if (raw === undefined) throw new BootstrapError('the data dir holds raft state but no raftkv bootstrap record; refusing to guess its configuration');
  const record = JSON.parse(raw) as BootstrapRecord;
  if (record.v !== 1) throw new BootstrapError(`unknown bootstrap record version ${String(record.v)}`);
  if (record.name !== config.name) throw new BootstrapError(`the data dir belongs to member '${record.name}', not '${config.name}'`);
  if (record.clusterToken !== config.clusterToken) throw new BootstrapError(`the data dir belongs to cluster '${record.clusterToken}', not '${config.clusterToken}'`);
  book.loadJson(record.membersJson);
  let confState = record.confState;
  let snapshotMeta: SnapshotMeta = { index: 0, term: 0, confState };
  if (loaded.snapshot) {
    snapshotMeta = loaded.snapshot.meta;
    confState = snapshotMeta.confState;
    if (loaded.snapshot.data.length > 0) book.loadJson(decodeSnapshot(loaded.snapshot.data).membersJson);
  }
  // Our own addresses may have changed between runs (e.g. a new pod IP): the flags win for self.
  book.set({ name: config.name, peerAddress: config.advertisePeer, clientUrl: config.advertiseClientUrl });
  return {
    initialState: { hardState: loaded.hardState, snapshot: snapshotMeta, entries: loaded.entries },
    addressBook: book, confState, snapshot: loaded.snapshot, newBootstrap: null, resumed: true,
  };
}
