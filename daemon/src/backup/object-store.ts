// The S3 side of backups: one bucket of an S3 or S3-compatible store, through the AWS SDK for
// JavaScript v3. Credentials come from the SDK's standard chain (AWS_ACCESS_KEY_ID/..., AWS_PROFILE
// and the shared config/credentials files, web identity, SSO, container and instance roles);
// the endpoint from --s3-endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL; the region from
// --s3-region, AWS_REGION or AWS_DEFAULT_REGION (us-east-1 for a custom endpoint, which rarely
// cares). Uploads stream in parts (bounded memory: partSizeBytes x MULTIPART_QUEUE), each part
// carrying a SHA-256 checksum the store verifies; retries are the SDK's standard mode (exponential
// backoff with jitter, AWS_MAX_ATTEMPTS, default 3 attempts). Every failure becomes an
// ObjectStoreError with one line a person can act on (no stack, no XML).
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ObjectStoreError, describeS3Error } from './s3-options.js';
import type { S3Options } from './s3-options.js';

/** Part size of multipart uploads (S3's minimum is 5 MiB); a backup smaller than this is one PUT. */
export const DEFAULT_PART_SIZE_BYTES = 8 * 1024 * 1024;
/** Parts in flight at once: an upload holds at most this many parts in memory. */
export const MULTIPART_QUEUE = 2;
/** Most objects a listing reads (a prefix of backups holds a handful; this bounds a wrong prefix). */
export const MAX_LIST_OBJECTS = 100_000;
/** Connect timeout and idle-socket timeout for every S3 request. */
export const CONNECT_TIMEOUT_MS = 5_000;
export const SOCKET_IDLE_TIMEOUT_MS = 60_000;
/** Largest --s3-ca-file. */
const MAX_CA_FILE_BYTES = 1024 * 1024;

/** One object of a listing. */
export interface ListedObject {
  readonly key: string;
  readonly bytes: number;
}

/** An object's size and user metadata (keys lowercased, without x-amz-meta-). */
export interface ObjectHead {
  readonly bytes: number;
  readonly metadata: Readonly<Record<string, string>>;
}

/** One bucket of an S3-compatible store. Call close() when done (it ends the keep-alive sockets). */
export class ObjectStore {
  private readonly client: S3Client;
  private readonly agents: { readonly http: HttpAgent; readonly https: HttpsAgent };
  /** For messages: the endpoint as configured, or AWS's. */
  readonly endpointLabel: string;

  private constructor(readonly bucket: string, options: S3Options) {
    // The SDK prints a multi-line notice on Node < 22 (its releases after January 2027 need 22) to
    // stderr on every run, which breaks "one line per failure" for scripts; the package lock pins
    // a release that supports Node 20. The SDK's own switch, only when the user has not set it.
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    const ca = options.caPem ?? (options.caFile === null ? undefined : readCa(options.caFile));
    this.agents = {
      http: new HttpAgent({ keepAlive: true, maxSockets: 8 }),
      https: new HttpsAgent({ keepAlive: true, maxSockets: 8, ...(ca !== undefined ? { ca: [...rootCertificates, ca] } : {}) }),
    };
    const pathStyle = options.pathStyle ?? options.endpoint !== null;
    const region = options.region ?? (options.endpoint !== null ? 'us-east-1' : undefined);
    const config: S3ClientConfig = {
      ...(options.endpoint !== null ? { endpoint: options.endpoint } : {}),
      ...(region !== undefined ? { region } : {}),
      forcePathStyle: pathStyle,
      ...(options.credentials !== undefined ? { credentials: { accessKeyId: options.credentials.accessKeyId, secretAccessKey: options.credentials.secretAccessKey } } : {}),
      requestHandler: { httpAgent: this.agents.http, httpsAgent: this.agents.https, connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: SOCKET_IDLE_TIMEOUT_MS },
    };
    this.client = new S3Client(config);
    this.endpointLabel = options.endpoint ?? `AWS S3${region !== undefined ? ` (${region})` : ''}`;
  }

  /** A store for `bucket`. @throws ObjectStoreError (bad-config) when the CA file cannot be read. */
  static open(bucket: string, options: S3Options): ObjectStore {
    return new ObjectStore(bucket, options);
  }

  private fail(err: unknown, key?: string): ObjectStoreError {
    return describeS3Error(err, { bucket: this.bucket, endpoint: this.endpointLabel, ...(key !== undefined ? { key } : {}) });
  }

  /**
   * Checks that the bucket exists and the credentials are valid, before a save asks a member for
   * its data. A one-key listing, not HEAD: a HEAD error has no body, so a store that answers an
   * unknown access key with 404 (versitygw) would look like a missing bucket. Credentials that may
   * write but not list (a write-only backup user) pass: the upload itself is the test then.
   */
  async checkBucket(): Promise<void> {
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: 1 }));
    } catch (err) {
      if (err instanceof Error && err.name === 'AccessDenied') return;
      throw this.fail(err);
    }
  }

  /** The objects directly under `prefix` (not in deeper "folders"), at most MAX_LIST_OBJECTS. */
  async list(prefix: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ...(token !== undefined ? { ContinuationToken: token } : {}) }));
        for (const o of r.Contents ?? []) if (o.Key !== undefined) out.push({ key: o.Key, bytes: o.Size ?? 0 });
        if (out.length > MAX_LIST_OBJECTS) throw new ObjectStoreError('other', `more than ${MAX_LIST_OBJECTS} objects under s3://${this.bucket}/${prefix}; use a prefix of its own for backups`);
        token = r.IsTruncated === true ? r.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (err) {
      throw this.fail(err);
    }
    return out;
  }

  /** The "folders" directly under `prefix` (names without the prefix and the trailing slash), at most MAX_LIST_OBJECTS. */
  async listFolders(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ...(token !== undefined ? { ContinuationToken: token } : {}) }));
        for (const p of r.CommonPrefixes ?? []) if (p.Prefix !== undefined) out.push(p.Prefix.slice(prefix.length).replace(/\/$/, ''));
        if (out.length > MAX_LIST_OBJECTS) throw new ObjectStoreError('other', `more than ${MAX_LIST_OBJECTS} folders under s3://${this.bucket}/${prefix}`);
        token = r.IsTruncated === true ? r.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (err) {
      throw this.fail(err);
    }
    return out;
  }

  /**
   * Uploads `body` to `key` as it streams (multipart above partSizeBytes; at most
   * MULTIPART_QUEUE parts in memory), with a SHA-256 checksum per part that the store verifies
   * and `metadata` on the object. A failed or aborted upload leaves no object (its parts are aborted).
   */
  async putStream(key: string, body: Readable, metadata: Readonly<Record<string, string>>, partSizeBytes = DEFAULT_PART_SIZE_BYTES): Promise<void> {
    const upload = new Upload({
      client: this.client,
      queueSize: MULTIPART_QUEUE,
      partSize: partSizeBytes,
      leavePartsOnError: false,
      params: { Bucket: this.bucket, Key: key, Body: body, Metadata: { ...metadata }, ContentType: 'application/octet-stream', ChecksumAlgorithm: 'SHA256' },
    });
    // A source stream that fails (a cut member stream, a checksum mismatch) fails the upload from
    // inside: the SDK's part reader throws, and done() rejects only after it has aborted the
    // multipart upload (no abort() from here: done() would return before the abort request went
    // out, and close() would then cut it off, leaving the parts stored).
    let sourceError: unknown = null;
    body.once('error', (e) => {
      sourceError = e;
    });
    try {
      await upload.done();
    } catch (err) {
      if (sourceError !== null) throw sourceError;
      throw this.fail(err, key);
    }
  }

  /** Size and metadata of `key`. */
  async head(key: string): Promise<ObjectHead> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { bytes: r.ContentLength ?? 0, metadata: { ...(r.Metadata ?? {}) } };
    } catch (err) {
      throw this.fail(err, key);
    }
  }

  /** The object's bytes as a stream. */
  async getStream(key: string): Promise<Readable> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (r.Body === undefined) throw new ObjectStoreError('other', `s3://${this.bucket}/${key}: empty response body`);
      return r.Body as Readable;
    } catch (err) {
      throw this.fail(err, key);
    }
  }

  /** Deletes `keys` (1000 per request, S3's limit); throws if any could not be deleted. */
  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      let failed: string[];
      try {
        const r = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
        failed = (r.Errors ?? []).map((e) => `${e.Key ?? '?'}: ${e.Code ?? ''} ${e.Message ?? ''}`.trim());
      } catch (err) {
        throw this.fail(err);
      }
      if (failed.length > 0) throw new ObjectStoreError('other', `could not delete ${failed.length} object(s) from s3://${this.bucket}: ${failed.join('; ')}`);
    }
  }

  /** Releases sockets. */
  close(): void {
    this.client.destroy();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

function readCa(path: string): Buffer {
  try {
    const b = readFileSync(path);
    if (b.length > MAX_CA_FILE_BYTES) throw new Error(`larger than ${MAX_CA_FILE_BYTES} bytes`);
    return b;
  } catch (err) {
    throw new ObjectStoreError('bad-config', `cannot read the S3 CA bundle ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
