// Parsed by hand, not with WHATWG URL: that would normalise the key ('..', '%20', '//') and so
// change which objects a prefix names.
//
// Where backups live, written as a URL: `s3://bucket/prefix/` (S3 or any S3-compatible store)
// or `file://DIR/` (a directory). Parsing is pure: text in, a location or a LocationError out.
//
// A location names a prefix (a "folder" of backups) or one object in it:
//   s3://bucket/prefix/          the prefix `prefix/` of bucket `bucket` (trailing slash)
//   s3://bucket/prefix/obj.snap  the object `prefix/obj.snap`
//   s3://bucket                  the whole bucket (prefix "")
//   file:///abs/dir/, file://rel/dir/, file:///abs/dir/obj.snap  the same for a directory
// `save` and `list` always take a prefix (a missing trailing slash is added); `restore` reads
// either an object, or the newest backup under a prefix.

/** A location that cannot be parsed; callers turn it into a usage error (exit 2). */
export class LocationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocationError';
  }
}

/** A parsed backup location. `object` is the name inside the prefix, or null for the prefix itself. */
export type BackupLocation =
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string; readonly object: string | null }
  | { readonly kind: 'file'; readonly dir: string; readonly object: string | null };

/** Longest location text accepted. */
const MAX_LOCATION_CHARS = 2048;
/** S3's own limit on a key. */
const MAX_S3_KEY_BYTES = 1024;
/** A bucket name as S3-compatible stores accept them (AWS's rules are stricter: lowercase, 3..63). */
const BUCKET_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** True when `text` is written as a backup URL (s3:// or file://) rather than a plain path. */
export function isBackupUrl(text: string): boolean {
  return /^(s3|file):\/\//i.test(text);
}

/**
 * Parses a backup URL. `want`: 'prefix' (save, list: the text always names a prefix) or
 * 'prefix-or-object' (restore: a trailing slash or a bare bucket names the prefix).
 */
export function parseBackupLocation(text: string, want: 'prefix' | 'prefix-or-object'): BackupLocation {
  if (text.length > MAX_LOCATION_CHARS) throw new LocationError(`backup location longer than ${MAX_LOCATION_CHARS} characters`);
  const m = /^(s3|file):\/\/(.*)$/is.exec(text);
  if (m === null) throw new LocationError(`backup location must be s3://BUCKET/PREFIX/ or file://DIR/, got '${text}'`);
  const scheme = (m[1] ?? '').toLowerCase();
  const rest = m[2] ?? '';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(rest)) throw new LocationError('backup location holds control characters');
  if (scheme === 's3') {
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const key = slash === -1 ? '' : rest.slice(slash + 1);
    if (!BUCKET_RE.test(bucket)) throw new LocationError(`bad bucket name '${bucket}' in ${text}`);
    if (Buffer.byteLength(key) > MAX_S3_KEY_BYTES - 128) throw new LocationError(`S3 key prefix too long in ${text}`);
    if (key.startsWith('/') || key.split('/').some((seg, i, all) => seg === '' && i < all.length - 1)) throw new LocationError(`empty path segment in ${text}`);
    if (key === '' || key.endsWith('/')) return { kind: 's3', bucket, prefix: key, object: null };
    if (want === 'prefix') return { kind: 's3', bucket, prefix: `${key}/`, object: null };
    const cut = key.lastIndexOf('/');
    return { kind: 's3', bucket, prefix: key.slice(0, cut + 1), object: key.slice(cut + 1) };
  }
  if (rest === '') throw new LocationError(`file:// needs a directory, as file:///backups/ or file://./backups/`);
  if (rest.endsWith('/') || want === 'prefix') return { kind: 'file', dir: rest.replace(/\/+$/, '') || '/', object: null };
  const cut = rest.lastIndexOf('/');
  return { kind: 'file', dir: cut <= 0 ? (cut === 0 ? '/' : '.') : rest.slice(0, cut), object: rest.slice(cut + 1) };
}

/** The location written back as a URL (the prefix, or the object when `object` is given). */
export function formatLocation(loc: BackupLocation, object: string | null = loc.object): string {
  if (loc.kind === 's3') return `s3://${loc.bucket}/${loc.prefix}${object ?? ''}`;
  const dir = loc.dir.endsWith('/') ? loc.dir : `${loc.dir}/`;
  return `file://${dir}${object ?? ''}`;
}
