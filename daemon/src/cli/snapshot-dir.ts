// Naming and retention of saved backups, shared by every place backups land (a directory,
// `file://DIR/`, `s3://bucket/prefix/`), kept pure (names in, names out) so they are unit-tested
// without a cluster, a disk or an object store.
//
// A finished backup is `snapshot-<UTC yyyymmddThhmmss.mmm>Z-rev<revision>-<8 hex>.snap`: the
// milliseconds and the random tag make two saves in the same second (even at the same revision)
// land under different names instead of overwriting each other. Names of older raftctl versions
// (`snapshot-<yyyymmddThhmmss>Z-rev<R>.snap`) are still recognised, sorted and pruned. While a
// file streams it is `.<final name>.part` (a dot file, so it never matches the final pattern and
// a crash never leaves a partial file under a final name); an object store needs no temp name
// (an object appears only once its upload completes). Retention only ever looks at names matching
// these patterns: anything else is not ours and is never touched.
import { randomBytes } from 'node:crypto';

/** Largest --keep (the CRD's spec.backup.keep bound). */
export const MAX_KEEP = 1000;
/** Largest --keep-within (ten years). */
export const MAX_KEEP_WITHIN_MS = 10 * 366 * 24 * 3_600_000;
/** A temp file untouched for this long belongs to a run that died; the next run removes it. */
export const STALE_PART_AGE_MS = 10 * 60_000;

/** A final backup name: timestamp, revision and (since names became unique) a random tag. */
export const SNAPSHOT_NAME_RE = /^snapshot-(\d{8}T\d{6}(?:\.\d{3})?Z)-rev(\d{1,16})(?:-([0-9a-f]{8}))?\.snap$/;
/** A temp name of an unfinished backup. */
export const SNAPSHOT_PART_RE = /^\.snapshot-\d{8}T\d{6}(?:\.\d{3})?Z-rev\d{1,16}(?:-[0-9a-f]{8})?\.snap\.part$/;

/** `20261202T081500.123Z` for a time in ms. */
export function compactUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '');
}

/** Time in ms of a compact stamp (with or without milliseconds). */
export function stampMs(stamp: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{3}))?Z$/.exec(stamp);
  if (m === null) return Number.NaN;
  const n = (i: number): number => Number(m[i] ?? '0');
  return Date.UTC(n(1), n(2) - 1, n(3), n(4), n(5), n(6), n(7));
}

/**
 * The final and temp names of a backup taken at `takenAtMs` holding `revision`. `tag` (8 lowercase
 * hex digits) is random unless given (tests).
 */
export function snapshotNames(takenAtMs: number, revision: number, tag: string = randomBytes(4).toString('hex')): { final: string; part: string } {
  if (!Number.isSafeInteger(revision) || revision < 0) throw new RangeError(`bad revision ${revision}`);
  if (!/^[0-9a-f]{8}$/.test(tag)) throw new RangeError(`bad tag ${tag}`);
  const final = `snapshot-${compactUtc(takenAtMs)}-rev${revision}-${tag}.snap`;
  return { final, part: `.${final}.part` };
}

/** A parsed final name. */
export interface SnapshotName {
  readonly name: string;
  readonly stamp: string;
  /** The stamp as a time (ms since the epoch). */
  readonly takenAtMs: number;
  readonly revision: number;
}

/** Parses a final backup name; undefined for anything else (including temp names). */
export function parseSnapshotName(name: string): SnapshotName | undefined {
  const m = SNAPSHOT_NAME_RE.exec(name);
  if (m === null) return undefined;
  const stamp = m[1] ?? '';
  const takenAtMs = stampMs(stamp);
  if (Number.isNaN(takenAtMs)) return undefined;
  return { name, stamp, takenAtMs, revision: Number(m[2]) };
}

/** Oldest first: by time, then by revision, then by name (two backups in the same millisecond). */
export function sortSnapshots(names: readonly string[]): SnapshotName[] {
  return names.flatMap((n) => parseSnapshotName(n) ?? [])
    .sort((a, b) => a.takenAtMs - b.takenAtMs || a.revision - b.revision || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What to keep: the newest `keep`, and/or every backup taken within `keepWithinMs` of the newest. */
export interface RetentionPolicy {
  readonly keep: number | null;
  readonly keepWithinMs: number | null;
}

/**
 * The backups to delete under `policy`, oldest first. A backup survives when either rule keeps it
 * (as restic's --keep-last/--keep-within); the newest backup always survives. The window is
 * measured back from the newest backup, not from now, so backups that stopped arriving are not
 * all deleted by the next run. Only names matching SNAPSHOT_NAME_RE are considered.
 * @throws RangeError when keep is not 1..MAX_KEEP or keepWithinMs not 1..MAX_KEEP_WITHIN_MS, or neither is given.
 */
export function planRetention(names: readonly string[], policy: RetentionPolicy): string[] {
  const { keep, keepWithinMs } = policy;
  if (keep === null && keepWithinMs === null) throw new RangeError('a retention policy needs keep or keepWithinMs');
  if (keep !== null && (!Number.isSafeInteger(keep) || keep < 1 || keep > MAX_KEEP)) throw new RangeError(`keep must be 1..${MAX_KEEP}, got ${keep}`);
  if (keepWithinMs !== null && (!Number.isSafeInteger(keepWithinMs) || keepWithinMs < 1 || keepWithinMs > MAX_KEEP_WITHIN_MS)) throw new RangeError(`keepWithinMs must be 1..${MAX_KEEP_WITHIN_MS}, got ${keepWithinMs}`);
  const sorted = sortSnapshots(names);
  const newest = sorted[sorted.length - 1];
  if (newest === undefined) return [];
  return sorted.filter((s, i) => {
    if (s === newest) return false;
    const byCount = keep !== null && i >= sorted.length - keep;
    const byAge = keepWithinMs !== null && newest.takenAtMs - s.takenAtMs < keepWithinMs;
    return !byCount && !byAge;
  }).map((s) => s.name);
}

/** The backups to delete so that the newest `keep` remain (planRetention with a count only). */
export function planPrune(names: readonly string[], keep: number): string[] {
  return planRetention(names, { keep, keepWithinMs: null });
}

/** Temp files left behind by runs that died (ours by name, unmodified for STALE_PART_AGE_MS). */
export function stalePartFiles(files: readonly { readonly name: string; readonly mtimeMs: number }[], nowMs: number): string[] {
  return files.filter((f) => SNAPSHOT_PART_RE.test(f.name) && nowMs - f.mtimeMs >= STALE_PART_AGE_MS).map((f) => f.name);
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * Our own parser (a dozen lines; the forms and the bound are ours, a dependency would add neither).
 * Parses a retention window such as `7d`, `36h`, `90m`, `2w` or `1d12h` into ms.
 * @throws RangeError for anything else, zero, or more than MAX_KEEP_WITHIN_MS.
 */
export function parseDurationMs(text: string): number {
  if (!/^(\d{1,6}[smhdw])+$/.test(text)) throw new RangeError(`bad duration '${text}' (expected e.g. 7d, 36h, 90m, 2w, 1d12h)`);
  let ms = 0;
  for (const m of text.matchAll(/(\d{1,6})([smhdw])/g)) ms += Number(m[1]) * (DURATION_UNITS_MS[m[2] ?? ''] ?? 0);
  if (ms < 1 || ms > MAX_KEEP_WITHIN_MS) throw new RangeError(`duration '${text}' must be more than 0 and at most 10 years`);
  return ms;
}
