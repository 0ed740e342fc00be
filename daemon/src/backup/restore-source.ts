// Where `raftkv restore --from` reads: a local file as before, or a backup location URL
// (`s3://bucket/prefix/<object>`, `s3://bucket/prefix/` = the newest there, `file://DIR/...`),
// which is first copied next to the data dir and verified (trailer, and the checksum recorded in
// the object's metadata) before anything is restored from it.
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isBackupUrl, parseBackupLocation } from './location.js';
import type { S3Options } from './s3-options.js';
import { openBackupStore } from './stores.js';
import { fetchFromStore } from './transfer.js';
import type { FetchedBackup } from './transfer.js';

/** The temp file a remote backup is copied to: a sibling of the data dir (same volume). */
export function downloadPathOf(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, '')}.backup-download`;
}

/**
 * Calls `fn` with a local, verified copy of the backup `from` names (and what was fetched, or
 * null for a plain local path); removes the copy afterwards.
 */
export async function withLocalBackup<T>(from: string, dataDir: string, s3: S3Options, fn: (file: string, fetched: FetchedBackup | null) => Promise<T>): Promise<T> {
  if (!isBackupUrl(from)) return fn(from, null);
  const loc = parseBackupLocation(from, 'prefix-or-object');
  const store = await openBackupStore(loc, s3);
  const file = downloadPathOf(dataDir);
  try {
    // Left over by a restore that died: it is ours (the name says so) and never a data dir.
    await rm(file, { force: true });
    await mkdir(dirname(file), { recursive: true });
    await store.check();
    const fetched = await fetchFromStore(store, loc.object, file);
    return await fn(file, fetched);
  } finally {
    store.close();
    await rm(file, { force: true });
  }
}
