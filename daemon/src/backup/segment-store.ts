// Where shipped log segments live: `log/<folder>/` under a backup prefix (log-segment.ts groups
// them by first index), of a directory (`file://DIR/`) or an S3 bucket (`s3://bucket/prefix/`),
// behind one small interface so the shipper and point-in-time restore are written once. Only
// names parseSegmentName accepts are ever listed; objects are small (bounded by
// --backup-segment-max-bytes), so they are read whole.
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { formatLocation } from './location.js';
import type { BackupLocation } from './location.js';
import { SEGMENT_FOLDER, parseSegmentFolder, parseSegmentName, segmentFolderName, segmentFolderOf } from './log-segment.js';
import type { SegmentName } from './log-segment.js';
import type { S3Options } from './s3-options.js';
import { syncDir } from './stores.js';

/** Largest segment object a restore reads (far above any --backup-segment-max-bytes accepted). */
export const MAX_SEGMENT_OBJECT_BYTES = 512 * 1024 * 1024;

/** A segment read back, with the checksum the store recorded beside it (null: none recorded). */
export interface FetchedSegment {
  readonly bytes: Buffer;
  readonly recordedSha256: string | null;
}

/** The segments of one backup prefix. */
export interface SegmentStore {
  /** The segment folder as a URL (for messages). */
  readonly url: string;
  /** The sub-folders holding segments, ascending. */
  folders(): Promise<number[]>;
  /** The segments of one sub-folder, in index order (then by last index). */
  listFolder(folder: number): Promise<SegmentName[]>;
  /** Writes a complete segment under `name` (in its sub-folder); it appears only once complete. */
  put(name: string, bytes: Buffer, sha256: string): Promise<void>;
  get(name: string): Promise<FetchedSegment>;
  close(): void;
}

/** Every segment of a store, in index order (tests and small logs; restores walk folders). */
export async function listAllSegments(store: SegmentStore): Promise<SegmentName[]> {
  const out: SegmentName[] = [];
  for (const f of await store.folders()) out.push(...await store.listFolder(f));
  return out;
}

/** The path of a segment inside the segment folder: `<sub-folder>/<name>`. */
export function segmentPath(name: string): string {
  const parsed = parseSegmentName(name);
  if (parsed === undefined) throw new RangeError(`not a segment name: ${name}`);
  return `${segmentFolderName(segmentFolderOf(parsed.firstIndex))}/${name}`;
}

/** Sub-folder names to numbers, ascending; other names are ignored. */
export function sortFolders(names: readonly string[]): number[] {
  return names.flatMap((n) => parseSegmentFolder(n) ?? []).sort((a, b) => a - b);
}

/** Index order, longer segment first on a tie (a restore then needs fewer). */
export function sortSegments(names: readonly string[]): SegmentName[] {
  return names.flatMap((n) => parseSegmentName(n) ?? []).sort((a, b) => a.firstIndex - b.firstIndex || b.lastIndex - a.lastIndex);
}

/** Segments in `DIR/log/`: written as `.name.part`, fsynced, renamed, directory fsynced. */
export class DirSegmentStore implements SegmentStore {
  readonly url: string;
  private readonly dir: string;

  constructor(prefixDir: string) {
    this.dir = join(prefixDir, SEGMENT_FOLDER);
    this.url = formatLocation({ kind: 'file', dir: this.dir, object: null });
  }

  async folders(): Promise<number[]> {
    try {
      return sortFolders((await readdir(this.dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name));
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return [];
      throw err;
    }
  }

  async listFolder(folder: number): Promise<SegmentName[]> {
    try {
      return sortSegments(await readdir(join(this.dir, segmentFolderName(folder))));
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return [];
      throw err;
    }
  }

  async put(name: string, bytes: Buffer): Promise<void> {
    const dir = join(this.dir, dirname(segmentPath(name)));
    await mkdir(dir, { recursive: true });
    const part = join(dir, `.${name}.part`);
    const fh = await open(part, 'w');
    try {
      await fh.write(bytes);
      await fh.sync();
      await fh.close();
      await rename(part, join(dir, name));
      await syncDir(dir);
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(part, { force: true });
      throw err;
    }
  }

  async get(name: string): Promise<FetchedSegment> {
    return { bytes: await readFile(join(this.dir, segmentPath(name))), recordedSha256: null };
  }

  close(): void {
    // nothing held
  }
}

/** The segment store of a backup prefix (the AWS SDK is loaded only for s3://). */
export async function openSegmentStore(loc: BackupLocation, s3: S3Options): Promise<SegmentStore> {
  if (loc.kind === 'file') return new DirSegmentStore(loc.dir);
  const { openS3SegmentStore } = await import('./s3-backup-store.js');
  return openS3SegmentStore(loc.bucket, loc.prefix, s3);
}
