// Runs the backup commands that take a location URL (snapshot-url-args.ts): a member's backup
// streamed into a directory or an S3 prefix under a name that never collides, retention, and a
// listing. Failures are one line and exit 1 (a bad S3 flag or environment value: usage, exit 2).
import type { Writable } from 'node:stream';
import { ObjectStoreError, S3OptionsError, s3OptionsFrom } from '../backup/s3-options.js';
import { BackupStoreError, openBackupStore } from '../backup/stores.js';
import type { BackupStore } from '../backup/stores.js';
import { applyRetention, saveToStore } from '../backup/transfer.js';
import { BackupFormatError } from '../server/backup-file.js';
import { UsageError } from './args.js';
import { CliError } from './client.js';
import { openMemberBackup } from './member-backup.js';
import type { RaftkvClient } from './client.js';
import type { SnapshotUrlAction } from './snapshot-url-args.js';

/** Where these commands print. */
export interface SnapshotUrlIo {
  readonly stdout: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Errors of stores and transfers as one CLI line. */
function asCliError(err: unknown, what: string): unknown {
  if (err instanceof S3OptionsError) return new UsageError(err.message);
  if (err instanceof ObjectStoreError || err instanceof BackupStoreError || err instanceof BackupFormatError) return new CliError(`${what}: ${err.message}`);
  if (err instanceof Error && 'code' in err && typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) return new CliError(`${what}: ${err.message}`);
  return err;
}

async function save(client: RaftkvClient, action: Extract<SnapshotUrlAction, { op: 'save' }>, store: BackupStore, out: Writable): Promise<number> {
  // Check the store first: a wrong bucket or bad credentials fail before the member does any work.
  await store.check();
  const takenAtMs = Date.now();
  const { endpoint, res } = await openMemberBackup(client, action.serializable);
  const s = await saveToStore({ endpoint, headers: res.headers, stream: res.stream }, store, takenAtMs);
  out.write(`saved ${s.url}: member=${s.endpoint} index=${s.index} revision=${s.revision} bytes=${s.bytes} sha256=${s.sha256} ms=${s.ms}\n`);
  if (action.retention === null) return 0;
  const r = await applyRetention(store, action.retention);
  out.write(`kept ${r.kept} backup(s) in ${store.url}; deleted ${r.deleted.length}${r.deleted.length > 0 ? ` (${r.deleted.join(', ')})` : ''}${r.staleTempFilesRemoved > 0 ? `; removed ${r.staleTempFilesRemoved} stale temp file(s)` : ''}\n`);
  return 0;
}

async function list(store: BackupStore, out: Writable): Promise<number> {
  await store.check();
  const all = await store.list();
  const rows = [['NAME', 'TAKEN', 'REVISION', 'BYTES'], ...all.map((b) => [b.name, new Date(b.takenAtMs).toISOString(), String(b.revision), String(b.bytes)])];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  for (const row of rows) out.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`);
  out.write(`${all.length} backup(s) in ${store.url}\n`);
  return 0;
}

/** Runs one URL backup command; resolves with the exit code, throws CliError/UsageError. */
export async function runSnapshotUrlCommand(client: RaftkvClient, action: SnapshotUrlAction, io: SnapshotUrlIo): Promise<number> {
  const what = action.op === 'save' ? 'snapshot save' : 'snapshot list';
  let store: BackupStore;
  try {
    store = await openBackupStore(action.location, s3OptionsFrom(new Map(Object.entries(action.s3Flags)), io.env));
  } catch (err) {
    throw asCliError(err, what);
  }
  try {
    return action.op === 'save' ? await save(client, action, store, io.stdout) : await list(store, io.stdout);
  } catch (err) {
    throw asCliError(err, what);
  } finally {
    store.close();
  }
}
