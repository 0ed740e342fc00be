// Backups and shipped log segments under a prefix of an S3 bucket (stores.ts's and
// segment-store.ts's interfaces over object-store.ts). Loaded only when an s3:// location is used.
import { Readable } from 'node:stream';
import { formatLocation } from './location.js';
import { SEGMENT_FOLDER, segmentFolderName } from './log-segment.js';
import type { SegmentName } from './log-segment.js';
import { ObjectStore } from './object-store.js';
import { ObjectStoreError } from './s3-options.js';
import type { S3Options } from './s3-options.js';
import { MAX_SEGMENT_OBJECT_BYTES, segmentPath, sortFolders, sortSegments } from './segment-store.js';
import type { FetchedSegment, SegmentStore } from './segment-store.js';
import { sortSnapshots } from '../cli/snapshot-dir.js';
import { metaFromS3, metaToS3 } from './stores.js';
import type { BackupMeta, BackupStore, OpenedBackup, StoredBackup } from './stores.js';

/** Backups under a prefix of an S3 bucket. */
export class S3BackupStore implements BackupStore {
  readonly url: string;

  constructor(private readonly store: ObjectStore, private readonly prefix: string) {
    this.url = formatLocation({ kind: 's3', bucket: store.bucket, prefix, object: null });
  }

  check(): Promise<void> {
    return this.store.checkBucket();
  }

  async list(): Promise<StoredBackup[]> {
    const objects = await this.store.list(this.prefix);
    const bytesOf = new Map(objects.map((o) => [o.key.slice(this.prefix.length), o.bytes]));
    return sortSnapshots([...bytesOf.keys()]).map((n) => ({ ...n, bytes: bytesOf.get(n.name) ?? 0, url: this.url + n.name }));
  }

  write(name: string, source: Readable, meta: BackupMeta): Promise<void> {
    return this.store.putStream(this.prefix + name, source, metaToS3(meta));
  }

  async open(name: string): Promise<OpenedBackup> {
    const head = await this.store.head(this.prefix + name);
    const stream = await this.store.getStream(this.prefix + name);
    return { stream, bytes: head.bytes, meta: metaFromS3(head.metadata) };
  }

  async remove(names: readonly string[]): Promise<number> {
    await this.store.delete(names.map((n) => this.prefix + n));
    return 0;
  }

  close(): void {
    this.store.close();
  }
}

/** An S3BackupStore for `s3://bucket/prefix`. @throws ObjectStoreError (bad-config) for an unreadable CA file. */
export function openS3BackupStore(bucket: string, prefix: string, s3: S3Options): S3BackupStore {
  return new S3BackupStore(ObjectStore.open(bucket, s3), prefix);
}

const SEGMENT_SHA256_KEY = 'raftkv-sha256';

/** Shipped log segments under `prefix/log/` of a bucket. */
export class S3SegmentStore implements SegmentStore {
  readonly url: string;
  private readonly folder: string;

  constructor(private readonly store: ObjectStore, prefix: string) {
    this.folder = prefix + SEGMENT_FOLDER;
    this.url = formatLocation({ kind: 's3', bucket: store.bucket, prefix: this.folder, object: null });
  }

  async folders(): Promise<number[]> {
    return sortFolders(await this.store.listFolders(this.folder));
  }

  async listFolder(folder: number): Promise<SegmentName[]> {
    const sub = `${this.folder}${segmentFolderName(folder)}/`;
    const objects = await this.store.list(sub);
    return sortSegments(objects.map((o) => o.key.slice(sub.length)));
  }

  put(name: string, bytes: Buffer, sha256: string): Promise<void> {
    // One PUT (a segment is below the part size) with the SDK's SHA-256 the store verifies on
    // arrival, and ours over the whole file recorded for restores to check.
    return this.store.putStream(this.folder + segmentPath(name), Readable.from([bytes]), { [SEGMENT_SHA256_KEY]: sha256 });
  }

  async get(name: string): Promise<FetchedSegment> {
    const key = this.folder + segmentPath(name);
    const head = await this.store.head(key);
    if (head.bytes > MAX_SEGMENT_OBJECT_BYTES) throw new ObjectStoreError('other', `${this.url}${name} is ${head.bytes} bytes, above the ${MAX_SEGMENT_OBJECT_BYTES} a segment may have`);
    const stream = await this.store.getStream(key);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const c of stream) {
      total += (c as Buffer).length;
      if (total > MAX_SEGMENT_OBJECT_BYTES) {
        stream.destroy();
        throw new ObjectStoreError('other', `${this.url}${name} is larger than ${MAX_SEGMENT_OBJECT_BYTES} bytes`);
      }
      chunks.push(c as Buffer);
    }
    const recorded = head.metadata[SEGMENT_SHA256_KEY];
    return { bytes: Buffer.concat(chunks), recordedSha256: recorded !== undefined && /^[0-9a-f]{64}$/.test(recorded) ? recorded : null };
  }

  close(): void {
    this.store.close();
  }
}

/** An S3SegmentStore for `s3://bucket/prefix`. */
export function openS3SegmentStore(bucket: string, prefix: string, s3: S3Options): S3SegmentStore {
  return new S3SegmentStore(ObjectStore.open(bucket, s3), prefix);
}
