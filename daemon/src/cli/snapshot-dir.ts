// `raftctl snapshot save --dir DIR [--keep N]`: the naming and pruning rules of a backup directory,
// kept pure (names in, names out) so they are unit-tested without a cluster or a disk.
//
// A finished backup is `snapshot-<UTC yyyymmddThhmmssZ>-rev<revision>.snap`; while it streams it is
// `.snapshot-<same>.snap.part` (a dot file, so it never matches the final pattern and a crash never
// leaves a partial file under a final name). Pruning only ever looks at names matching these two
// patterns: anything else in the directory is not ours and is never touched.

/** Largest --keep (the CRD's spec.backup.keep bound). */
export const MAX_KEEP = 1000;
/** A temp file untouched for this long belongs to a run that died; the next run removes it. */
export const STALE_PART_AGE_MS = 10 * 60_000;

/** A final backup name: timestamp (sorts as text) and revision. */
export const SNAPSHOT_NAME_RE = /^snapshot-(\d{8}T\d{6}Z)-rev(\d{1,16})\.snap$/;
/** A temp name of an unfinished backup. */
export const SNAPSHOT_PART_RE = /^\.snapshot-\d{8}T\d{6}Z-rev\d{1,16}\.snap\.part$/;

/** `20261202T081500Z` for a time in ms. */
export function compactUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** The final and temp names of a backup taken at `takenAtMs` holding `revision`. */
export function snapshotNames(takenAtMs: number, revision: number): { final: string; part: string } {
  if (!Number.isSafeInteger(revision) || revision < 0) throw new RangeError(`bad revision ${revision}`);
  const final = `snapshot-${compactUtc(takenAtMs)}-rev${revision}.snap`;
  return { final, part: `.${final}.part` };
}

/** A parsed final name. */
export interface SnapshotName {
  readonly name: string;
  readonly stamp: string;
  readonly revision: number;
}

/** Parses a final backup name; undefined for anything else (including temp names). */
export function parseSnapshotName(name: string): SnapshotName | undefined {
  const m = SNAPSHOT_NAME_RE.exec(name);
  if (m === null) return undefined;
  return { name, stamp: m[1] ?? '', revision: Number(m[2]) };
}

/** Oldest first: by timestamp, then by revision (two backups in the same second). */
export function sortSnapshots(names: readonly string[]): SnapshotName[] {
  return names.flatMap((n) => parseSnapshotName(n) ?? []).sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.revision - b.revision));
}

/**
 * The backups to delete so that the newest `keep` remain. Only names matching SNAPSHOT_NAME_RE are
 * considered; the result is oldest first. @throws RangeError when keep is not 1..MAX_KEEP.
 */
export function planPrune(names: readonly string[], keep: number): string[] {
  if (!Number.isSafeInteger(keep) || keep < 1 || keep > MAX_KEEP) throw new RangeError(`keep must be 1..${MAX_KEEP}, got ${keep}`);
  const sorted = sortSnapshots(names);
  return sorted.slice(0, Math.max(0, sorted.length - keep)).map((s) => s.name);
}

/** Temp files left behind by runs that died (ours by name, unmodified for STALE_PART_AGE_MS). */
export function stalePartFiles(files: readonly { readonly name: string; readonly mtimeMs: number }[], nowMs: number): string[] {
  return files.filter((f) => SNAPSHOT_PART_RE.test(f.name) && nowMs - f.mtimeMs >= STALE_PART_AGE_MS).map((f) => f.name);
}
