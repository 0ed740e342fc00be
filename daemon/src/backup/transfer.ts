// Moving backup files between a member, a backup store and a local file, verifying the SHA-256
// trailer (server/backup-file.ts) on the way, streamed: memory stays bounded by the store's
// buffers whatever the backup's size.
import { open, rm } from 'node:fs/promises';
import { Transform, pipeline } from 'node:stream';
import type { Readable, TransformCallback } from 'node:stream';
import { BackupFormatError, BackupStreamVerifier } from '../server/backup-file.js';
import { planRetention, snapshotNames } from '../cli/snapshot-dir.js';
import type { RetentionPolicy } from '../cli/snapshot-dir.js';
import { BackupStoreError } from './stores.js';
import type { BackupMeta, BackupStore, StoredBackup } from './stores.js';

/** A member's GET /v1/snapshot answer whose body is still streaming. */
export interface MemberBackupStream {
  readonly endpoint: string;
  readonly headers: Headers;
  readonly stream: Readable;
}

/**
 * A pass-through that feeds a BackupStreamVerifier and fails the stream at its end when the
 * trailer does not match (or differs from `expectedSha256`), so no store ever completes a
 * damaged backup. `digest()` is the verified SHA-256 once the stream ended.
 */
export class VerifyingStream extends Transform {
  private readonly verifier = new BackupStreamVerifier();
  private verified: string | null = null;

  constructor(private readonly expectedSha256: string | null) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.verifier.push(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    try {
      const d = this.verifier.finish();
      if (this.expectedSha256 !== null && d !== this.expectedSha256) throw new BackupFormatError(`checksum ${d} differs from the recorded ${this.expectedSha256}`);
      this.verified = d;
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  get bytes(): number {
    return this.verifier.bytes;
  }

  /** The verified digest (hex); throws until the stream ended verified. */
  digest(): string {
    if (this.verified === null) throw new BackupFormatError('backup stream not verified');
    return this.verified;
  }
}

/** A backup written into a store. */
export interface SavedBackupObject {
  readonly url: string;
  readonly name: string;
  readonly endpoint: string;
  readonly index: number;
  readonly revision: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly ms: number;
}

function headerNumber(headers: Headers, name: string): number {
  const text = headers.get(name) ?? '';
  if (!/^[0-9]{1,16}$/.test(text)) throw new BackupFormatError(`the member sent no usable ${name} (${JSON.stringify(text)})`);
  return Number(text);
}

/**
 * Streams a member's backup into `store` under a new unique name (snapshot-dir.ts), verified on
 * the way; the SHA-256 the member announced is recorded as the object's metadata and must
 * match the trailer. The backup appears in the store only once complete and verified.
 */
export async function saveToStore(src: MemberBackupStream, store: BackupStore, takenAtMs: number): Promise<SavedBackupObject> {
  const t0 = performance.now();
  let meta: BackupMeta;
  try {
    const sha256 = src.headers.get('x-raftkv-backup-sha256') ?? '';
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new BackupFormatError('the member announced no X-Raftkv-Backup-Sha256');
    meta = { sha256, revision: headerNumber(src.headers, 'x-raftkv-backup-revision'), index: headerNumber(src.headers, 'x-raftkv-backup-index'), member: src.endpoint };
  } catch (err) {
    src.stream.destroy();
    throw err;
  }
  const name = snapshotNames(takenAtMs, meta.revision).final;
  const verify = new VerifyingStream(meta.sha256);
  // pipeline, not pipe: a cut member connection or a failed checksum reaches the store's reader
  // as the verifier's error, and no error is left without a listener.
  pipeline(src.stream, verify, () => undefined);
  try {
    await store.write(name, verify, meta);
  } catch (err) {
    // The store gave up (unreachable, denied, damaged stream): stop the member sending.
    src.stream.destroy();
    verify.destroy();
    throw err;
  }
  return { url: store.url + name, name, endpoint: src.endpoint, index: meta.index, revision: meta.revision, bytes: verify.bytes, sha256: verify.digest(), ms: Math.round(performance.now() - t0) };
}

/** What applyRetention did. */
export interface RetentionResult {
  readonly kept: number;
  readonly deleted: readonly string[];
  readonly staleTempFilesRemoved: number;
}

/** Deletes the store's backups that `policy` does not keep (never the newest). */
export async function applyRetention(store: BackupStore, policy: RetentionPolicy): Promise<RetentionResult> {
  const all = await store.list();
  const deleted = planRetention(all.map((b) => b.name), policy);
  const staleTempFilesRemoved = await store.remove(deleted);
  return { kept: all.length - deleted.length, deleted, staleTempFilesRemoved };
}

/** The newest backup in `store`, or `name` when given (checked to be one of ours). */
export async function pickBackup(store: BackupStore, name: string | null): Promise<StoredBackup> {
  const all = await store.list();
  if (name === null) {
    const newest = all[all.length - 1];
    if (newest === undefined) throw new BackupStoreError(`no backups under ${store.url}`);
    return newest;
  }
  const found = all.find((b) => b.name === name);
  if (found === undefined) throw new BackupStoreError(`no backup named ${name} under ${store.url} (${all.length} backup(s) there; raftctl snapshot list ${store.url})`);
  return found;
}

/** A backup copied to a local file. */
export interface FetchedBackup {
  readonly url: string;
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
  /** True when the store recorded a checksum and it matched (S3 metadata); the trailer is always checked. */
  readonly metadataChecked: boolean;
  readonly ms: number;
}

/**
 * Copies backup `name` (null: the newest) from `store` to `file` (created; must not exist),
 * verifying its trailer and, where the store recorded one, the checksum in its metadata. On any
 * failure `file` is removed.
 */
export async function fetchFromStore(store: BackupStore, name: string | null, file: string): Promise<FetchedBackup> {
  const t0 = performance.now();
  const picked = await pickBackup(store, name);
  const opened = await store.open(picked.name);
  const verify = new VerifyingStream(opened.meta?.sha256 ?? null);
  const fh = await open(file, 'wx');
  try {
    pipeline(opened.stream, verify, () => undefined);
    for await (const c of verify) await fh.write(c as Buffer);
    await fh.sync();
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(file, { force: true });
    if (err instanceof BackupFormatError) throw new BackupFormatError(`${picked.url}: ${err.message}`);
    throw err;
  }
  return { url: picked.url, name: picked.name, bytes: verify.bytes, sha256: verify.digest(), metadataChecked: opened.meta !== null, ms: Math.round(performance.now() - t0) };
}
