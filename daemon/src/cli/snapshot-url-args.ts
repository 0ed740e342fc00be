// Parsing of the backup commands that take a location URL (pure; args.ts hands them over):
//   snapshot save s3://BUCKET/PREFIX/|file://DIR/ [--keep N] [--keep-within D] [--serializable] [--s3-* ...]
//   snapshot list s3://BUCKET/PREFIX/|file://DIR/ [--s3-* ...]
import { isBackupUrl, LocationError, parseBackupLocation } from '../backup/location.js';
import type { BackupLocation } from '../backup/location.js';
import { S3_FLAGS } from '../backup/s3-options.js';
import { MAX_KEEP, parseDurationMs } from './snapshot-dir.js';
import type { RetentionPolicy } from './snapshot-dir.js';

/** Usage lines of these commands (for raftctl's usage text). */
export const SNAPSHOT_URL_USAGE = `  snapshot save s3://BUCKET/PREFIX/|file://DIR/ [--keep N] [--keep-within 7d] [--serializable]
                                       save as PREFIX/snapshot-<UTC time>-rev<R>-<tag>.snap (names never
                                       collide), then delete what neither --keep (newest N) nor
                                       --keep-within (taken within D of the newest) keeps
  snapshot list s3://BUCKET/PREFIX/|file://DIR/   the backups there, oldest first`;

/** A parsed URL backup command. `s3Flags` are the --s3-* values (resolved with the environment at run time). */
export type SnapshotUrlAction =
  | { readonly op: 'save'; readonly location: BackupLocation; readonly retention: RetentionPolicy | null; readonly serializable: boolean; readonly s3Flags: Readonly<Record<string, string>> }
  | { readonly op: 'list'; readonly location: BackupLocation; readonly s3Flags: Readonly<Record<string, string>> };

/** A usage error in these commands (args.ts turns it into its UsageError). */
export class SnapshotUrlArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotUrlArgsError';
  }
}

/** True when `snapshot <args>` is one of these commands (a location URL, or `list`). */
export function isSnapshotUrlCommand(args: readonly string[]): boolean {
  return args[0] === 'list' || (args[0] === 'save' && args.slice(1).some((a) => isBackupUrl(a)));
}

/** Parses `snapshot save|list ...` (the words after `snapshot`). @throws SnapshotUrlArgsError */
export function parseSnapshotUrlCommand(args: readonly string[]): SnapshotUrlAction {
  const [op, ...rest] = args;
  const valued = new Set<string>([...S3_FLAGS, ...(op === 'save' ? ['--keep', '--keep-within'] : [])]);
  const bools = new Set<string>(op === 'save' ? ['--serializable'] : []);
  const positional: string[] = [];
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq === -1 ? a : a.slice(0, eq);
    if (bools.has(name)) {
      if (eq !== -1) throw new SnapshotUrlArgsError(`${name} takes no value`);
      flags.add(name);
    } else if (valued.has(name)) {
      const v = eq === -1 ? rest[++i] : a.slice(eq + 1);
      if (v === undefined || v === '') throw new SnapshotUrlArgsError(`${name} needs a value`);
      values.set(name, v);
    } else throw new SnapshotUrlArgsError(`unknown flag: ${name}`);
  }
  const form = op === 'save' ? 'snapshot save s3://BUCKET/PREFIX/|file://DIR/ [--keep N] [--keep-within D]' : 'snapshot list s3://BUCKET/PREFIX/|file://DIR/';
  if (positional.length !== 1) throw new SnapshotUrlArgsError(`usage: raftctl ${form}`);
  let location: BackupLocation;
  try {
    location = parseBackupLocation(positional[0] as string, 'prefix');
  } catch (err) {
    if (err instanceof LocationError) throw new SnapshotUrlArgsError(err.message);
    throw err;
  }
  const s3Flags = Object.fromEntries([...values].filter(([k]) => (S3_FLAGS as readonly string[]).includes(k)));
  if (location.kind === 'file' && Object.keys(s3Flags).length > 0) throw new SnapshotUrlArgsError('--s3-* flags need an s3:// location');
  if (op === 'list') return { op: 'list', location, s3Flags };
  const keepText = values.get('--keep');
  let keep: number | null = null;
  if (keepText !== undefined) {
    if (!/^[0-9]{1,4}$/.test(keepText) || Number(keepText) < 1 || Number(keepText) > MAX_KEEP) throw new SnapshotUrlArgsError(`--keep must be 1..${MAX_KEEP}`);
    keep = Number(keepText);
  }
  const withinText = values.get('--keep-within');
  let keepWithinMs: number | null = null;
  if (withinText !== undefined) {
    try {
      keepWithinMs = parseDurationMs(withinText);
    } catch (err) {
      throw new SnapshotUrlArgsError(`--keep-within: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const retention = keep === null && keepWithinMs === null ? null : { keep, keepWithinMs };
  return { op: 'save', location, retention, serializable: flags.has('--serializable'), s3Flags };
}
