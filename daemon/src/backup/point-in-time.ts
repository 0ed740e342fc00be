// Point-in-time restore: the newest full snapshot at or before the target, plus the shipped log
// segments after it replayed through the KV state machine up to the target, written out as an
// ordinary backup file that `raftkv restore` then builds a data dir from. The replay is the
// member's own apply code, and every entry's resulting revision is checked against the one the
// shipping leader recorded, so a replay that diverges stops loudly instead of restoring wrong data.
// Every object is verified: the snapshot's trailer and recorded SHA-256, each segment's trailer
// and recorded SHA-256.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { EntryType } from '../raft/types.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { decodeCommand } from '../kv/command-codec.js';
import { BackupFormatError, decodeBackup, encodeBackup } from '../server/backup-file.js';
import type { BackupHeader } from '../server/backup-file.js';
import { isDriverEntry } from '../server/driver-entries.js';
import { decodeSegment, segmentFolderOf } from './log-segment.js';
import type { SegmentName, ShippedEntry } from './log-segment.js';
import type { SegmentStore } from './segment-store.js';
import { BackupStoreError } from './stores.js';
import type { BackupStore, StoredBackup } from './stores.js';
import { fetchFromStore } from './transfer.js';

/** What state to rebuild. */
export type RestoreTarget =
  | { readonly kind: 'latest' }
  | { readonly kind: 'revision'; readonly revision: number }
  | { readonly kind: 'time'; readonly timeMs: number };

/** What a point-in-time build did. */
export interface PointInTimeReport {
  /** The full snapshot it started from. */
  readonly base: string;
  readonly baseRevision: number;
  readonly segmentsRead: number;
  readonly entriesReplayed: number;
  readonly header: BackupHeader;
  /** Revision and index where the shipped log ends (after the base). */
  readonly logEndRevision: number;
  readonly logEndIndex: number;
  readonly ms: number;
}

/** The target as text, for messages. */
export function describeTarget(t: RestoreTarget): string {
  if (t.kind === 'latest') return 'the latest shipped state';
  if (t.kind === 'revision') return `revision ${t.revision}`;
  return `time ${new Date(t.timeMs).toISOString()}`;
}

/** True when applying `e` would go past the target (the replay stops before it). */
function beyondTarget(e: ShippedEntry, target: RestoreTarget, sm: KvStateMachine): boolean {
  if (target.kind === 'revision') return e.revision > target.revision;
  if (target.kind === 'time' && e.type === EntryType.Normal && !isDriverEntry(e.data)) {
    const d = decodeCommand(e.data, sm.limits);
    return d.ok && d.command.proposedAtMs > target.timeMs;
  }
  return false;
}

/** Walk-back bound: sub-folders before the snapshot's looked at for a segment running past it. */
const MAX_FOLDERS_BACK = 64;

/**
 * The segments that may hold entries after `index`, in index order, listed one sub-folder at a
 * time as the replay asks for them (a restore that stops early lists no further).
 */
async function* segmentsAfter(segments: SegmentStore, index: number): AsyncGenerator<SegmentName> {
  const folders = await segments.folders();
  const home = segmentFolderOf(index + 1);
  let start = folders.findIndex((f) => f >= home);
  if (start === -1) start = folders.length;
  // A segment that starts in an earlier folder may still run past `index`.
  for (let back = 0; back < MAX_FOLDERS_BACK && start > 0; back++) {
    const prev = await segments.listFolder(folders[start - 1] as number);
    if (!prev.some((s) => s.lastIndex > index)) break;
    start--;
  }
  for (let i = start; i < folders.length; i++) yield* await segments.listFolder(folders[i] as number);
}

/** Downloads (verified) and loads one snapshot into a fresh state machine. */
async function openSnapshot(backups: BackupStore, picked: StoredBackup, baseFile: string): Promise<{ header: BackupHeader; sm: KvStateMachine }> {
  await rm(baseFile, { force: true });
  let image: Uint8Array;
  let header: BackupHeader;
  try {
    await fetchFromStore(backups, picked.name, baseFile);
    ({ header, image } = decodeBackup(await readFile(baseFile)));
  } finally {
    await rm(baseFile, { force: true });
  }
  const sm = new KvStateMachine({ scheduleWatchFlush: () => undefined });
  sm.restore(image);
  if (sm.appliedIndex !== header.index || sm.revision !== header.revision) throw new BackupFormatError(`${picked.url}: header and image disagree`);
  return { header, sm };
}

/**
 * Builds the backup file `file` (created) holding the state at `target` from the snapshots in
 * `backups` and the segments in `segments`. Throws BackupStoreError when the target cannot be
 * reached exactly (no snapshot at or before it, a gap in the shipped log, a revision beyond the
 * shipped end) and BackupFormatError for a damaged object or a replay that diverges.
 */
export async function buildPointInTimeBackup(backups: BackupStore, segments: SegmentStore, target: RestoreTarget, file: string, nowMs: number = Date.now()): Promise<PointInTimeReport> {
  const t0 = performance.now();
  const snaps = await backups.list();
  const eligible = snaps.filter((s) => target.kind === 'revision' ? s.revision <= target.revision : target.kind === 'time' ? s.takenAtMs <= target.timeMs : true);
  if (eligible.length === 0) {
    throw new BackupStoreError(`no full snapshot at or before ${describeTarget(target)} under ${backups.url} (${snaps.length} snapshot(s) there${snaps[0] !== undefined ? `, the oldest at revision ${snaps[0].revision}` : ''})`);
  }
  // The newest eligible snapshot; for a time, one whose own clock (the last write it holds) is
  // not past the target either (the name's time is the saver's clock, not the leader's).
  let base: { picked: StoredBackup; header: BackupHeader; sm: KvStateMachine } | null = null;
  for (let i = eligible.length - 1; i >= 0 && base === null; i--) {
    const candidate = eligible[i] as StoredBackup;
    const opened = await openSnapshot(backups, candidate, `${file}.base`);
    if (target.kind === 'time' && opened.sm.clockMs > target.timeMs) continue;
    base = { picked: candidate, ...opened };
  }
  if (base === null) throw new BackupStoreError(`no full snapshot under ${backups.url} holds only writes proposed at or before ${describeTarget(target)}`);
  const { picked, header: baseHeader, sm } = base;

  const listed = segmentsAfter(segments, sm.appliedIndex);
  let segmentsRead = 0;
  let entriesReplayed = 0;
  let done = false;
  let logEnd = { index: sm.appliedIndex, revision: sm.revision };
  for await (const seg of listed) {
    if (done) break;
    if (seg.lastIndex <= sm.appliedIndex) continue;
    if (seg.firstIndex > sm.appliedIndex + 1) {
      if (target.kind === 'revision' && sm.revision >= target.revision) break;
      throw new BackupStoreError(`the shipped log under ${segments.url} has a gap: it holds nothing for indexes ${sm.appliedIndex + 1}..${seg.firstIndex - 1} `
        + `(after revision ${sm.revision}), so ${describeTarget(target)} cannot be rebuilt from ${picked.url}; restore a later snapshot or a revision before the gap`);
    }
    if (target.kind === 'revision' && seg.revisionBefore > target.revision) break;
    const fetched = await segments.get(seg.name);
    let decoded;
    try {
      decoded = decodeSegment(fetched.bytes, fetched.recordedSha256);
    } catch (err) {
      throw new BackupFormatError(`${segments.url}${seg.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (decoded.header.firstIndex !== seg.firstIndex || decoded.header.lastIndex !== seg.lastIndex) throw new BackupFormatError(`${segments.url}${seg.name}: its header disagrees with its name`);
    segmentsRead++;
    for (const e of decoded.entries) {
      if (e.index <= sm.appliedIndex) continue;
      if (beyondTarget(e, target, sm)) {
        done = true;
        break;
      }
      if (e.type === EntryType.Normal && !isDriverEntry(e.data)) sm.apply(e.index, e.term, e.data);
      else sm.applyNoop(e.index, e.term);
      if (sm.revision !== e.revision) {
        throw new BackupFormatError(`replay diverged at index ${e.index}: revision ${sm.revision} here, ${e.revision} on the member that shipped it (${segments.url}${seg.name})`);
      }
      entriesReplayed++;
    }
    logEnd = { index: decoded.header.lastIndex, revision: decoded.header.lastRevision };
  }
  if (target.kind === 'revision' && sm.revision !== target.revision) {
    const later = snaps.find((x) => x.revision > target.revision);
    if (later !== undefined) {
      throw new BackupStoreError(`the shipped log under ${segments.url} has a gap: from ${picked.url} it reaches only revision ${sm.revision} (index ${sm.appliedIndex}) `
        + `and the next snapshot is at revision ${later.revision}, so revision ${target.revision} cannot be rebuilt; restore a revision outside the gap`);
    }
    throw new BackupStoreError(`revision ${target.revision} is not in the shipped log: from ${picked.url} (revision ${baseHeader.revision}) it reaches revision ${sm.revision} (index ${sm.appliedIndex})`);
  }
  const snapshotImage = sm.snapshot();
  const header: BackupHeader = {
    v: 1, member: `point-in-time from ${picked.name}`, index: sm.appliedIndex, term: sm.appliedTerm, revision: sm.revision, keys: sm.size,
    createdAtMs: nowMs, imageBytes: snapshotImage.length, consistency: 'linearizable',
  };
  await writeFile(file, encodeBackup(header, snapshotImage), { flag: 'wx' });
  return {
    base: picked.url, baseRevision: baseHeader.revision, segmentsRead, entriesReplayed, header,
    logEndRevision: Math.max(logEnd.revision, sm.revision), logEndIndex: Math.max(logEnd.index, sm.appliedIndex), ms: Math.round(performance.now() - t0),
  };
}
