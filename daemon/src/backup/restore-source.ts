// Where `raftkv restore --from` reads: a local file as before, or a backup location URL
// (`s3://bucket/prefix/<object>`, `s3://bucket/prefix/` = the newest there, `file://DIR/...`),
// which is first copied next to the data dir and verified (trailer, and the checksum recorded in
// the object's metadata) before anything is restored from it.
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isBackupUrl, parseBackupLocation } from './location.js';
import type { S3Options } from './s3-options.js';
import { BackupStoreError, openBackupStore } from './stores.js';
import { fetchFromStore } from './transfer.js';
import type { FetchedBackup } from './transfer.js';
import { openSegmentStore } from './segment-store.js';
import { buildPointInTimeBackup } from './point-in-time.js';
import type { PointInTimeReport, RestoreTarget } from './point-in-time.js';

/** The temp file a remote backup is copied to: a sibling of the data dir (same volume). */
export function downloadPathOf(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, '')}.backup-download`;
}

/** What was fetched for a restore from a backup location. */
export interface FetchedSource {
  /** The one backup object copied (plain restore), or null. */
  readonly backup: FetchedBackup | null;
  /** The point-in-time build (a prefix with a shipped log, or a target), or null. */
  readonly pointInTime: PointInTimeReport | null;
}

/**
 * Calls `fn` with a local, verified backup file for `from` (and what was fetched, or null for a
 * plain local path); removes the copy afterwards. A prefix whose `log/` holds shipped segments,
 * or any `target`, is rebuilt point-in-time (point-in-time.ts): `target` null means the latest
 * shipped state then.
 */
export async function withLocalBackup<T>(from: string, dataDir: string, s3: S3Options, fn: (file: string, fetched: FetchedSource | null) => Promise<T>, target: RestoreTarget | null = null): Promise<T> {
  if (!isBackupUrl(from)) {
    if (target !== null) throw new BackupStoreError('--to-revision and --to-time need --from s3://BUCKET/PREFIX/ or file://DIR/ (the prefix the log was shipped to)');
    return fn(from, null);
  }
  const loc = parseBackupLocation(from, 'prefix-or-object');
  if (target !== null && loc.object !== null) throw new BackupStoreError(`--to-revision and --to-time need the backup prefix (ending in /), not one object: ${from}`);
  const store = await openBackupStore(loc, s3);
  const segments = loc.object === null ? await openSegmentStore(loc, s3) : null;
  const file = downloadPathOf(dataDir);
  try {
    // Left over by a restore that died: it is ours (the name says so) and never a data dir.
    await rm(file, { force: true });
    await mkdir(dirname(file), { recursive: true });
    await store.check();
    if (segments !== null && (target !== null || (await segments.folders()).length > 0)) {
      const pointInTime = await buildPointInTimeBackup(store, segments, target ?? { kind: 'latest' }, file);
      return await fn(file, { backup: null, pointInTime });
    }
    const fetched = await fetchFromStore(store, loc.object, file);
    return await fn(file, { backup: fetched, pointInTime: null });
  } finally {
    store.close();
    segments?.close();
    await rm(file, { force: true });
  }
}
