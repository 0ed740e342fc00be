// GET /v1/snapshot: a backup of this member's KV state (the file `raftctl snapshot save`
// writes; format in server/backup-file.ts). Not redirected: any member can serve it. By default
// the member first catches up with everything committed before the request (ReadIndex, like a
// linearizable read), so the backup holds every write acknowledged before it was asked for;
// `?consistency=serializable` skips that step — the way to save what a lone survivor holds when
// the quorum is gone.
import { createHash } from 'node:crypto';
import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { resolveKvStateMachine } from '../kv-binding.js';
import { parseConsistency } from '../validate.js';
import { encodeBackupHead } from '../../server/backup-file.js';
import type { BackupHeader } from '../../server/backup-file.js';
import { query, route } from './handler.js';
import { waitLinearizableSoon } from '../redirect.js';

/** Bytes written per chunk (backpressure is honoured between chunks). */
const CHUNK_BYTES = 1024 * 1024;

/** Registers GET /v1/snapshot (admin when auth is on; see access.ts). */
export function registerBackupRoute(router: Router, ctx: ApiContext): void {
  router.get('/v1/snapshot', route(ctx, '/v1/snapshot', async (req, res) => {
    const startMs = performance.now();
    const consistency = parseConsistency(query(req, 'consistency'));
    if (consistency === 'linearizable') await waitLinearizableSoon(ctx.service, ctx.leaderWaitMs);
    const sm = resolveKvStateMachine(ctx.service.stateMachine);
    // One synchronous step: the image, its index and its revision describe the same state.
    const image = sm.snapshot();
    const header: BackupHeader = {
      v: 1, member: ctx.service.name, index: sm.appliedIndex, term: sm.appliedTerm, revision: sm.revision,
      keys: sm.size, createdAtMs: Date.now(), imageBytes: image.length, consistency,
    };
    const head = encodeBackupHead(header);
    const digest = createHash('sha256').update(head).update(image).digest();
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(head.length + image.length + digest.length),
      'content-disposition': `attachment; filename="raftkv-${ctx.service.name}-${header.index}.backup"`,
      'x-raftkv-backup-sha256': digest.toString('hex'),
      'x-raftkv-backup-index': String(header.index),
      'x-raftkv-backup-revision': String(header.revision),
    });
    const write = (b: Uint8Array): Promise<void> => new Promise((resolve) => {
      if (res.write(b)) resolve();
      else {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      }
    });
    await write(head);
    for (let off = 0; off < image.length && !res.destroyed; off += CHUNK_BYTES) await write(image.subarray(off, Math.min(image.length, off + CHUNK_BYTES)));
    res.end(digest);
    ctx.logger.info({ index: header.index, revision: header.revision, bytes: image.length, consistency }, 'backup served');
    ctx.timer.observe('/v1/snapshot', 'GET', 200, startMs);
    return null;
  }));
}
