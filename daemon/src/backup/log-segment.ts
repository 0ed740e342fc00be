// A log segment: a run of consecutive committed raft entries, shipped to the backup store so a
// restore can replay them on top of a full snapshot and stop at any revision (point-in-time
// restore). Pure: bytes in, bytes out.
//
// Layout:  "RKVLOG01" | u32 BE header length | header JSON | records | sha256(all bytes before)
// record:  u8 entry type | f64 index | f64 term | f64 revision after the entry | u32 BE length | data
// The trailer is the same convention as a backup file (server/backup-file.ts), so the same
// streaming verifier checks both. Segments are named by index and revision range
// (segmentName), so a listing alone tells a restore which ones it needs and a new leader where
// the shipped log ends.
import { createHash } from 'node:crypto';
import { BackupFormatError } from '../server/backup-file.js';

const MAGIC = Buffer.from('RKVLOG01', 'ascii');
const DIGEST_BYTES = 32;
const RECORD_HEAD_BYTES = 1 + 8 + 8 + 8 + 4;
/** Bound on the header JSON. */
const MAX_HEADER_BYTES = 64 * 1024;
/** Segments live in this folder under the backup prefix (snapshots sit beside it). */
export const SEGMENT_FOLDER = 'log/';
/**
 * Segments are grouped in sub-folders by first index (`log/0000000012/seg-...` holds those starting
 * at 1 200 000..1 299 999), so no listing ever reads more than this many of them (each segment holds
 * at least one entry) however long the log is shipped.
 */
export const SEGMENT_FOLDER_INDEXES = 100_000;

/** The sub-folder (a number; its name is segmentFolderName) of a segment starting at `firstIndex`. */
export function segmentFolderOf(firstIndex: number): number {
  return Math.floor(firstIndex / SEGMENT_FOLDER_INDEXES);
}

/** `12` → `0000000012`. */
export function segmentFolderName(folder: number): string {
  return String(folder).padStart(10, '0');
}

/** Parses a sub-folder name; undefined for anything else. */
export function parseSegmentFolder(name: string): number | undefined {
  return /^\d{10}$/.test(name) ? Number(name) : undefined;
}

/** One committed entry as shipped. */
export interface ShippedEntry {
  /** Raft entry type (0 normal, 1 conf change, 2 noop). */
  readonly type: number;
  readonly index: number;
  readonly term: number;
  /** The KV revision once this entry was applied. */
  readonly revision: number;
  readonly data: Uint8Array;
}

/** What a segment's header records. */
export interface SegmentHeader {
  readonly v: 1;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** Revision before the first entry was applied, and after the last. */
  readonly revisionBefore: number;
  readonly lastRevision: number;
  readonly entries: number;
  /** The member that shipped it. */
  readonly member: string;
  readonly createdAtMs: number;
}

/** A segment's place in the log, read from its name. */
export interface SegmentName {
  readonly name: string;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly revisionBefore: number;
  readonly lastRevision: number;
}

const NAME_RE = /^seg-(\d{16})-(\d{16})-r(\d{16})-(\d{16})\.rkvlog$/;

const pad = (n: number): string => String(n).padStart(16, '0');

/** The object name of a segment (inside SEGMENT_FOLDER); lexical order is index order. */
export function segmentName(h: Pick<SegmentHeader, 'firstIndex' | 'lastIndex' | 'revisionBefore' | 'lastRevision'>): string {
  return `seg-${pad(h.firstIndex)}-${pad(h.lastIndex)}-r${pad(h.revisionBefore)}-${pad(h.lastRevision)}.rkvlog`;
}

/** Parses a segment name; undefined for anything else. */
export function parseSegmentName(name: string): SegmentName | undefined {
  const m = NAME_RE.exec(name);
  if (m === null) return undefined;
  const [firstIndex, lastIndex, revisionBefore, lastRevision] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  if (firstIndex < 1 || lastIndex < firstIndex || lastRevision < revisionBefore) return undefined;
  return { name, firstIndex, lastIndex, revisionBefore, lastRevision };
}

/** Bytes a record of `dataBytes` takes in a segment (for size bounds). */
export function recordBytes(dataBytes: number): number {
  return RECORD_HEAD_BYTES + dataBytes;
}

/** Writes one record at `off` of `out` (which has room); returns the offset after it. */
export function writeRecord(out: Buffer, off: number, type: number, index: number, term: number, revision: number, data: Uint8Array): number {
  off = out.writeUInt8(type, off);
  off = out.writeDoubleBE(index, off);
  off = out.writeDoubleBE(term, off);
  off = out.writeDoubleBE(revision, off);
  off = out.writeUInt32BE(data.length, off);
  out.set(data, off);
  return off + data.length;
}

/** Index of the record at `off` of encoded records, and the offset after it. */
export function recordAt(records: Buffer, off: number): { index: number; next: number } {
  return { index: records.readDoubleBE(off + 1), next: off + RECORD_HEAD_BYTES + records.readUInt32BE(off + 25) };
}

/** Where a run of encoded records sits in the log. */
export interface RecordsRange {
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly revisionBefore: number;
  readonly lastRevision: number;
  readonly entries: number;
}

/**
 * A segment from records already encoded with writeRecord (consecutive indexes, as `range`
 * says; the shipper's buffer keeps them that way, so shipping copies bytes once).
 */
export function encodeSegmentRecords(records: Uint8Array, range: RecordsRange, member: string, createdAtMs: number): { bytes: Buffer; header: SegmentHeader; sha256: string } {
  if (range.entries < 1 || range.lastIndex - range.firstIndex + 1 !== range.entries) throw new RangeError('a segment holds consecutive entries, at least one');
  const header: SegmentHeader = { v: 1, firstIndex: range.firstIndex, lastIndex: range.lastIndex, revisionBefore: range.revisionBefore, lastRevision: range.lastRevision, entries: range.entries, member, createdAtMs };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const size = MAGIC.length + 4 + json.length + records.length;
  const out = Buffer.allocUnsafe(size + DIGEST_BYTES);
  let off = MAGIC.copy(out, 0);
  off = out.writeUInt32BE(json.length, off);
  off += json.copy(out, off);
  out.set(records, off);
  const digest = createHash('sha256').update(out.subarray(0, size)).digest();
  digest.copy(out, size);
  return { bytes: out, header, sha256: digest.toString('hex') };
}

/** Encodes consecutive entries (asserted) as a segment with its trailer. */
export function encodeSegment(entries: readonly ShippedEntry[], revisionBefore: number, member: string, createdAtMs: number): { bytes: Buffer; header: SegmentHeader; sha256: string } {
  const first = entries[0];
  const last = entries[entries.length - 1];
  if (first === undefined || last === undefined) throw new RangeError('a segment holds at least one entry');
  for (let i = 1; i < entries.length; i++) {
    if ((entries[i] as ShippedEntry).index !== (entries[i - 1] as ShippedEntry).index + 1) throw new RangeError('segment entries must be consecutive');
  }
  let size = 0;
  for (const e of entries) size += recordBytes(e.data.length);
  const records = Buffer.allocUnsafe(size);
  let off = 0;
  for (const e of entries) off = writeRecord(records, off, e.type, e.index, e.term, e.revision, e.data);
  return encodeSegmentRecords(records, { firstIndex: first.index, lastIndex: last.index, revisionBefore, lastRevision: last.revision, entries: entries.length }, member, createdAtMs);
}

function isHeader(v: unknown): v is SegmentHeader {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const nat = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  return o['v'] === 1 && nat(o['firstIndex']) && nat(o['lastIndex']) && nat(o['revisionBefore']) && nat(o['lastRevision']) && nat(o['entries'])
    && typeof o['member'] === 'string' && nat(o['createdAtMs']);
}

/**
 * Verifies the trailer (and `expectedSha256` when the store recorded one) and decodes a segment;
 * throws BackupFormatError for a damaged, truncated or inconsistent one.
 */
export function decodeSegment(file: Uint8Array, expectedSha256: string | null = null): { header: SegmentHeader; entries: ShippedEntry[]; sha256: string } {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buf.length < MAGIC.length + 4 + DIGEST_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new BackupFormatError('not a raftkv log segment');
  const body = buf.subarray(0, buf.length - DIGEST_BYTES);
  const digest = createHash('sha256').update(body).digest();
  if (!digest.equals(buf.subarray(buf.length - DIGEST_BYTES))) throw new BackupFormatError('checksum mismatch: the log segment is truncated or damaged');
  const sha256 = digest.toString('hex');
  if (expectedSha256 !== null && sha256 !== expectedSha256) throw new BackupFormatError(`checksum ${sha256} differs from the recorded ${expectedSha256}`);
  const headerBytes = body.readUInt32BE(MAGIC.length);
  let off = MAGIC.length + 4;
  if (headerBytes > MAX_HEADER_BYTES || off + headerBytes > body.length) throw new BackupFormatError('bad segment header length');
  let header: unknown;
  try {
    header = JSON.parse(body.subarray(off, off + headerBytes).toString('utf8'));
  } catch {
    throw new BackupFormatError('segment header is not JSON');
  }
  if (!isHeader(header)) throw new BackupFormatError('segment header lacks required fields');
  off += headerBytes;
  const entries: ShippedEntry[] = [];
  while (off < body.length) {
    if (off + RECORD_HEAD_BYTES > body.length) throw new BackupFormatError('truncated segment record');
    const type = body.readUInt8(off);
    const index = body.readDoubleBE(off + 1);
    const term = body.readDoubleBE(off + 9);
    const revision = body.readDoubleBE(off + 17);
    const len = body.readUInt32BE(off + 25);
    off += RECORD_HEAD_BYTES;
    if (off + len > body.length) throw new BackupFormatError('truncated segment record');
    entries.push({ type, index, term, revision, data: new Uint8Array(body.buffer, body.byteOffset + off, len) });
    off += len;
  }
  const first = entries[0];
  const last = entries[entries.length - 1];
  if (first === undefined || last === undefined || entries.length !== header.entries || first.index !== header.firstIndex || last.index !== header.lastIndex
    || last.revision !== header.lastRevision || entries.some((e, i) => e.index !== header.firstIndex + i)) {
    throw new BackupFormatError('segment records disagree with its header');
  }
  return { header, entries, sha256 };
}
