// Backups under a prefix of an S3 bucket (stores.ts's interface over object-store.ts). Loaded
// only when an s3:// location is used.
import type { Readable } from 'node:stream';
import { formatLocation } from './location.js';
import { ObjectStore } from './object-store.js';
import type { S3Options } from './s3-options.js';
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
