// S3 settings and S3 failures, without the SDK: what raftctl and `raftkv restore` parse and print
// for every command (the SDK itself, object-store.ts, is loaded only when an s3:// location is used).

/** Flags that configure the S3 client (every command that takes an s3:// location accepts them). */
export const S3_FLAGS = ['--s3-endpoint', '--s3-region', '--s3-path-style', '--s3-ca-file'] as const;
/** Help text for S3_FLAGS. */
export const S3_FLAGS_HELP = `S3 locations (s3://BUCKET/PREFIX/): credentials from the standard AWS chain (AWS_ACCESS_KEY_ID and
  AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials, web identity, instance roles)
  --s3-endpoint URL     S3-compatible endpoint (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, AWS)
  --s3-region R         region (default: $AWS_REGION, $AWS_DEFAULT_REGION; us-east-1 with an endpoint)
  --s3-path-style B     true|false: bucket in the path, not the host name (default: true with an
                        endpoint, false for AWS; or $RAFTKV_S3_PATH_STYLE)
  --s3-ca-file F        extra CA bundle (PEM) for an https:// endpoint (default: $AWS_CA_BUNDLE)`;

/** How to reach the store (flags win over the environment). */
export interface S3Options {
  readonly endpoint: string | null;
  readonly region: string | null;
  readonly pathStyle: boolean | null;
  readonly caFile: string | null;
  /** Explicit credentials (the operator's, read from a Kubernetes Secret); absent: the SDK's standard chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** A CA bundle as PEM text (the operator's, read from a Secret); used instead of caFile. */
  readonly caPem?: string;
}

/** Bad S3 flags or environment: a usage error for the caller (exit 2). */
export class S3OptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'S3OptionsError';
  }
}

function bool(text: string, what: string): boolean {
  if (/^(true|1|yes)$/i.test(text)) return true;
  if (/^(false|0|no)$/i.test(text)) return false;
  throw new S3OptionsError(`${what} must be true or false, got '${text}'`);
}

/** S3Options from parsed flag values (keys as in S3_FLAGS) and the environment. Pure. */
export function s3OptionsFrom(flags: ReadonlyMap<string, string>, env: Readonly<Record<string, string | undefined>>): S3Options {
  const pick = (flag: string, ...envNames: string[]): string | null => {
    const f = flags.get(flag);
    if (f !== undefined) {
      if (f === '') throw new S3OptionsError(`${flag} must not be empty`);
      return f;
    }
    for (const n of envNames) {
      const v = env[n];
      if (v !== undefined && v !== '') return v;
    }
    return null;
  };
  const endpoint = pick('--s3-endpoint', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL');
  if (endpoint !== null) {
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      throw new S3OptionsError(`bad S3 endpoint URL '${endpoint}'`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new S3OptionsError(`S3 endpoint must be http:// or https://, got '${endpoint}'`);
  }
  const pathStyleText = pick('--s3-path-style', 'RAFTKV_S3_PATH_STYLE');
  return {
    endpoint,
    region: pick('--s3-region', 'AWS_REGION', 'AWS_DEFAULT_REGION'),
    pathStyle: pathStyleText === null ? null : bool(pathStyleText, '--s3-path-style'),
    caFile: pick('--s3-ca-file', 'AWS_CA_BUNDLE'),
  };
}

/** Why an S3 operation failed, in the terms a user acts on. */
export type ObjectStoreFailure = 'no-bucket' | 'no-object' | 'access-denied' | 'no-credentials' | 'unreachable' | 'bad-config' | 'other';

/** A failed S3 operation, with one line that says what to fix. */
export class ObjectStoreError extends Error {
  constructor(readonly failure: ObjectStoreFailure, message: string) {
    super(message);
    this.name = 'ObjectStoreError';
  }
}

/** What describeS3Error reads from an SDK or network error. */
interface ErrorLike {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
  readonly cause?: unknown;
  readonly errors?: unknown;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED']);
const TLS_CODES = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_.*)$/;

function networkCode(e: ErrorLike, depth = 0): string | null {
  if (depth > 4) return null;
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || TLS_CODES.test(e.code))) return e.code;
  if (Array.isArray(e.errors)) for (const x of e.errors as unknown[]) if (typeof x === 'object' && x !== null) {
    const c = networkCode(x as ErrorLike, depth + 1);
    if (c !== null) return c;
  }
  if (typeof e.cause === 'object' && e.cause !== null) return networkCode(e.cause as ErrorLike, depth + 1);
  return null;
}

/**
 * Turns an error thrown by the SDK (or the network under it) into an ObjectStoreError naming
 * the bucket, the object and the endpoint. Pure; exported for its unit test.
 */
export function describeS3Error(err: unknown, where: { readonly bucket: string; readonly key?: string; readonly endpoint: string }): ObjectStoreError {
  if (err instanceof ObjectStoreError) return err;
  const e: ErrorLike = typeof err === 'object' && err !== null ? (err as ErrorLike) : { message: String(err) };
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : null;
  const at = `(bucket '${where.bucket}' at ${where.endpoint})`;
  const net = networkCode(e);
  if (net !== null && TLS_CODES.test(net)) return new ObjectStoreError('unreachable', `TLS to ${where.endpoint} failed (${net}): give the store's CA with --s3-ca-file or $AWS_CA_BUNDLE`);
  if (net !== null || name === 'TimeoutError' || name === 'RequestTimeout') return new ObjectStoreError('unreachable', `cannot reach the S3 endpoint ${where.endpoint}: ${net ?? message}`);
  // XAdminUserNotFound: versitygw's answer (HTTP 404) to an access key it does not know.
  if (name === 'InvalidAccessKeyId' || name === 'XAdminUserNotFound') return new ObjectStoreError('access-denied', `access denied ${at}: the access key is unknown (${name}); check AWS_ACCESS_KEY_ID`);
  if (name === 'NoSuchBucket' || (status === 404 && where.key === undefined)) return new ObjectStoreError('no-bucket', `bucket '${where.bucket}' does not exist at ${where.endpoint}`);
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return new ObjectStoreError('no-object', `no object s3://${where.bucket}/${where.key ?? ''} ${at}`);
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return new ObjectStoreError('no-credentials', 'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials');
  }
  if (name === 'SignatureDoesNotMatch' || name === 'AccessDenied' || name === 'Forbidden' || status === 403 || status === 401) {
    return new ObjectStoreError('access-denied', `access denied ${at}: ${name || `HTTP ${status}`}; check the access key, the secret key and the bucket's permissions`);
  }
  if (/Region is missing/i.test(message)) return new ObjectStoreError('bad-config', 'no S3 region: set AWS_REGION or --s3-region');
  return new ObjectStoreError('other', `S3 ${name || 'error'}${status !== null ? ` (HTTP ${status})` : ''} ${at}: ${message}`);
}
