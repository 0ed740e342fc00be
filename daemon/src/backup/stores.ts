// The places backups are kept, behind one small interface so saving, listing, retention and
// restore are written once: a directory (`file://DIR/`) and a prefix of an S3 bucket
// (`s3://bucket/prefix/`). Names are snapshot-dir.ts's; nothing that does not match them is
// ever listed or deleted.
import { createReadStream } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SNAPSHOT_PART_RE, parseSnapshotName, sortSnapshots, stalePartFiles } from '../cli/snapshot-dir.js';
import type { SnapshotName } from '../cli/snapshot-dir.js';
import { formatLocation } from './location.js';
import type { BackupLocation } from './location.js';
import type { S3Options } from './s3-options.js';

/** What we record beside a backup (S3 user metadata; a file carries it in its own header). */
export interface BackupMeta {
  /** SHA-256 (hex) of the backup file without its 32-byte trailer: the trailer's own value. */
  readonly sha256: string;
  readonly revision: number;
  readonly index: number;
  readonly member: string;
}

/** One saved backup. */
export interface StoredBackup extends SnapshotName {
  readonly bytes: number;
  /** Where it is, as a URL. */
  readonly url: string;
}

/** A backup opened for reading. */
export interface OpenedBackup {
  readonly stream: Readable;
  readonly bytes: number;
  /** Recorded metadata, or null where the store keeps none (files: the trailer is the checksum). */
  readonly meta: BackupMeta | null;
}

/** A backup store (one directory or one S3 prefix). */
export interface BackupStore {
  /** The prefix as a URL (for messages). */
  readonly url: string;
  /** Checks the store is usable (the directory exists; the bucket exists and the credentials work). */
  check(): Promise<void>;
  /** Our backups, oldest first. */
  list(): Promise<StoredBackup[]>;
  /** Writes `source` under `name`; the backup appears under its final name only once complete. */
  write(name: string, source: Readable, meta: BackupMeta): Promise<void>;
  open(name: string): Promise<OpenedBackup>;
  /** Deletes backups by name (and, for directories, temp files of runs that died). */
  remove(names: readonly string[]): Promise<number>;
  close(): void;
}

/** Failure that is the store's configuration or state, not the backup data (exit 1, one line). */
export class BackupStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupStoreError';
  }
}

const META_KEYS = { sha256: 'raftkv-sha256', revision: 'raftkv-revision', index: 'raftkv-index', member: 'raftkv-member' } as const;

/** BackupMeta as S3 user metadata (ASCII values only: the member name is URI-encoded). */
export function metaToS3(m: BackupMeta): Record<string, string> {
  return { [META_KEYS.sha256]: m.sha256, [META_KEYS.revision]: String(m.revision), [META_KEYS.index]: String(m.index), [META_KEYS.member]: encodeURIComponent(m.member) };
}

/** S3 user metadata back to BackupMeta; null when it lacks ours or is malformed. */
export function metaFromS3(md: Readonly<Record<string, string>>): BackupMeta | null {
  const sha256 = md[META_KEYS.sha256];
  const revision = Number(md[META_KEYS.revision]);
  const index = Number(md[META_KEYS.index]);
  if (sha256 === undefined || !/^[0-9a-f]{64}$/.test(sha256) || !Number.isSafeInteger(revision) || !Number.isSafeInteger(index)) return null;
  let member = '';
  try {
    member = decodeURIComponent(md[META_KEYS.member] ?? '');
  } catch {
    member = '';
  }
  return { sha256, revision, index, member };
}

/** fsync a directory so a rename in it survives a crash (the file's own fsync does not cover it). */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Backups in a directory: written as `.name.part`, fsynced, renamed, directory fsynced. */
export class DirBackupStore implements BackupStore {
  readonly url: string;

  constructor(private readonly dir: string) {
    this.url = formatLocation({ kind: 'file', dir, object: null });
  }

  async check(): Promise<void> {
    // A missing directory usually means the backup volume is not mounted: writing into the
    // container's own filesystem instead would lose the backup silently.
    let isDir = false;
    try {
      isDir = (await stat(this.dir)).isDirectory();
    } catch (err) {
      throw new BackupStoreError(`${this.url}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!isDir) throw new BackupStoreError(`${this.url}: ${this.dir} is not a directory`);
  }

  async list(): Promise<StoredBackup[]> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    const names = sortSnapshots(entries.filter((e) => e.isFile()).map((e) => e.name));
    return Promise.all(names.map(async (n) => ({ ...n, bytes: (await stat(join(this.dir, n.name))).size, url: this.url + n.name })));
  }

  async write(name: string, source: Readable): Promise<void> {
    const part = join(this.dir, `.${name}.part`);
    const final = join(this.dir, name);
    const fh = await open(part, 'wx');
    try {
      for await (const c of source) await fh.write(c as Buffer);
      await fh.sync();
      await fh.close();
      await rename(part, final);
      await syncDir(this.dir);
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(part, { force: true });
      throw err;
    }
  }

  async open(name: string): Promise<OpenedBackup> {
    const path = join(this.dir, name);
    let bytes: number;
    try {
      bytes = (await stat(path)).size;
    } catch (err) {
      throw new BackupStoreError(`cannot read ${this.url}${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { stream: createReadStream(path), bytes, meta: null };
  }

  async remove(names: readonly string[]): Promise<number> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    const parts = await Promise.all(entries.filter((e) => e.isFile() && SNAPSHOT_PART_RE.test(e.name))
      .map(async (e) => ({ name: e.name, mtimeMs: (await stat(join(this.dir, e.name))).mtimeMs })));
    const stale = stalePartFiles(parts, Date.now());
    for (const n of [...names, ...stale]) await rm(join(this.dir, n), { force: true });
    if (names.length + stale.length > 0) await syncDir(this.dir);
    return stale.length;
  }

  close(): void {
    // nothing held
  }
}

/**
 * The store behind a parsed location. The AWS SDK is loaded here, only for an s3:// location, so
 * every other raftctl command starts without it (it costs ~0.4 s).
 */
export async function openBackupStore(loc: BackupLocation, s3: S3Options): Promise<BackupStore> {
  if (loc.kind === 'file') return new DirBackupStore(loc.dir);
  const { openS3BackupStore } = await import('./s3-backup-store.js');
  return openS3BackupStore(loc.bucket, loc.prefix, s3);
}

/** True when `name` is one of ours (a final backup name). */
export function isBackupName(name: string): boolean {
  return parseSnapshotName(name) !== undefined;
}
