// The backup file `raftctl snapshot save` writes and `raftkv restore` reads: one member's KV
// state machine image at an applied index, with a header and a SHA-256 trailer.
//
// Layout:  "RKVBACK1" | u32 BE header length | header JSON | KV image | sha256(all bytes before)
// The header says where the image was taken (index, term, revision, member) and its length; the
// trailer makes a truncated or altered file fail loudly at restore instead of producing a
// cluster with silently wrong data. The image is the KV module's own snapshot format, so the
// file carries no raft log and no membership: a restore starts a NEW cluster from it.
import { createHash } from 'node:crypto';

const MAGIC = Buffer.from('RKVBACK1', 'ascii');
const DIGEST_BYTES = 32;
/** Bound on the header JSON (it is a handful of fields). */
const MAX_HEADER_BYTES = 64 * 1024;

/** What the header records. */
export interface BackupHeader {
  readonly v: 1;
  /** The member that served the backup. */
  readonly member: string;
  /** Raft index and term of the last entry applied into the image. */
  readonly index: number;
  readonly term: number;
  /** KV revision of the image. */
  readonly revision: number;
  /** Keys in the image (information). */
  readonly keys: number;
  readonly createdAtMs: number;
  /** Length of the KV image that follows the header. */
  readonly imageBytes: number;
  /** linearizable: the image holds everything committed before the request; serializable: the member's local state. */
  readonly consistency: 'linearizable' | 'serializable';
}

/** A backup file that is not one, is truncated, or fails its checksum. */
export class BackupFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupFormatError';
  }
}

/** The bytes before the image: magic, header length, header JSON. */
export function encodeBackupHead(h: BackupHeader): Buffer {
  const json = Buffer.from(JSON.stringify(h), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length, 0);
  return Buffer.concat([MAGIC, len, json]);
}

/** The whole file in memory (tests and small stores; the server streams the same bytes). */
export function encodeBackup(h: BackupHeader, image: Uint8Array): Buffer {
  const head = encodeBackupHead(h);
  const body = Buffer.concat([head, image]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

function isHeader(v: unknown): v is BackupHeader {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const nat = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  return o['v'] === 1 && typeof o['member'] === 'string' && nat(o['index']) && nat(o['term']) && nat(o['revision']) && nat(o['keys'])
    && nat(o['createdAtMs']) && nat(o['imageBytes']) && (o['consistency'] === 'linearizable' || o['consistency'] === 'serializable');
}

/** Checks the trailer and splits a backup file; throws BackupFormatError for anything else. */
export function decodeBackup(file: Uint8Array): { header: BackupHeader; image: Uint8Array; sha256: string } {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buf.length < MAGIC.length + 4 + DIGEST_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new BackupFormatError('not a raftkv backup file');
  const body = buf.subarray(0, buf.length - DIGEST_BYTES);
  const trailer = buf.subarray(buf.length - DIGEST_BYTES);
  const digest = createHash('sha256').update(body).digest();
  if (!digest.equals(trailer)) throw new BackupFormatError('checksum mismatch: the backup file is truncated or damaged');
  const headerBytes = buf.readUInt32BE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (headerBytes > MAX_HEADER_BYTES || start + headerBytes > body.length) throw new BackupFormatError('bad header length');
  let header: unknown;
  try {
    header = JSON.parse(body.subarray(start, start + headerBytes).toString('utf8'));
  } catch {
    throw new BackupFormatError('header is not JSON');
  }
  if (!isHeader(header)) throw new BackupFormatError('header lacks required fields');
  const image = body.subarray(start + headerBytes);
  if (image.length !== header.imageBytes) throw new BackupFormatError(`image is ${image.length} bytes, header says ${header.imageBytes}`);
  return { header, image: new Uint8Array(image.buffer, image.byteOffset, image.byteLength), sha256: digest.toString('hex') };
}

/**
 * Verifies a backup while it streams (raftctl writes it to disk as it arrives): every byte
 * except the last 32 goes into the hash, the last 32 must equal it.
 */
export class BackupStreamVerifier {
  private readonly hash = createHash('sha256');
  private tail: Buffer = Buffer.alloc(0);
  bytes = 0;

  push(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    const all = Buffer.concat([this.tail, chunk]);
    const cut = Math.max(0, all.length - DIGEST_BYTES);
    this.hash.update(all.subarray(0, cut));
    this.tail = Buffer.from(all.subarray(cut));
  }

  /** The digest (hex) when the trailer matches; throws BackupFormatError otherwise. */
  finish(): string {
    if (this.tail.length !== DIGEST_BYTES) throw new BackupFormatError('backup stream shorter than its checksum');
    const d = this.hash.digest();
    if (!d.equals(this.tail)) throw new BackupFormatError('checksum mismatch: the backup stream was damaged or cut short');
    return d.toString('hex');
  }
}

export { DIGEST_BYTES as BACKUP_DIGEST_BYTES };
